import ArvadosAPI
import DispatchModel
import Logging

extension ContainerQueue {
    /// Admits a container seen for the first time; when no instance type can run it, returns why it must be
    /// cancelled if it is Queued or Locked (one already running is only logged: its runner decides).
    func admitOrReject(_ container: Container) -> String? {
        do {
            try self.admit(container)
            return nil
        } catch {
            guard container.state == .queued || container.state == .locked else {
                self.logger.warning(
                    "No instance type for a running container",
                    metadata: ["container.uuid": "\(container.uuid)", "error": "\(error.message)"]
                )
                return nil
            }
            return error.message
        }
    }

    /// Caches a container seen for the first time (with its mounts), with its instance types. The cache keeps
    /// no mounts: they only serve to choose the types.
    private func admit(_ container: Container) throws(InstanceTypeChoiceError) {
        let types = try self.chooser.eligibleTypes(for: container)
        let resources = self.chooser.resourcesNeeded(for: container)
        var onDemandTypes: [InstanceType] = []
        if container.schedulingParameters.preemptible {
            // What a spot fallback would run it on: the same choice for an on-demand container.
            var onDemand = container
            onDemand.schedulingParameters.preemptible = false
            onDemandTypes = (try? self.chooser.eligibleTypes(for: onDemand)) ?? []
        }
        self.store(
            QueueEntry(
                container: container,
                instanceTypes: types,
                resources: resources,
                firstSeenAt: self.wallClock(),
                onDemandTypes: onDemandTypes
            )
        )
    }

    /// Locks (if Queued), records `runtime_status.error`, and cancels a container nothing can run.
    func cancelUnsatisfiable(_ container: Container, message: String) async {
        self.logger.info(
            "Cancelling unsatisfiable container",
            metadata: ["container.uuid": "\(container.uuid)", "error": "\(message)"]
        )
        do {
            if container.state == .queued { _ = try await self.client.lockContainer(container.uuid) }
            _ = try await self.client.updateContainer(
                container.uuid,
                ["runtime_status": .object(["error": .string(message)])]
            )
            _ = try await self.client.updateContainer(container.uuid, ["state": .string("Cancelled")])
        } catch {
            if let latest = try? await self.client.container(container.uuid), latest.state == .cancelled { return }
            self.logger.warning(
                "Cannot cancel unsatisfiable container",
                metadata: ["container.uuid": "\(container.uuid)", "error": "\(error)"]
            )
        }
    }
}
