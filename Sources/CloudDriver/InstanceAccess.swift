public import DispatchModel
public import RemoteExecution

/// How the dispatcher runs commands on a driver's instances: what a driver says about them in its
/// ``Driver/Product``, so that the assembly never asks which driver it has.
public enum InstanceAccess: Sendable {
    /// Commands run in this process (the simulated cloud's instances): `executor` makes the executor of the
    /// instance with the given ID. No SSH key is used and nothing is dialled.
    case inProcess(executor: @Sendable (InstanceID) -> any RemoteExecutor)
    /// Commands run over SSH with the dispatcher's key.
    case ssh(SSHAccess)

    /// Over SSH to instances on this host or behind a fake cloud: loopback dials only, and the key of
    /// `Containers.DispatchPrivateKey` required. What a driver that says nothing gets.
    public static let loopbackSSH = InstanceAccess.ssh(SSHAccess())

    /// Which addresses an executor may dial for these instances: ``SSHAccess/dialPolicy`` over SSH, and
    /// loopback only for instances that run commands in process (they are never dialled).
    public var dialPolicy: DialPolicy {
        switch self {
        case .inProcess: .loopbackOnly
        case .ssh(let ssh): ssh.dialPolicy
        }
    }
}

/// What SSH to a driver's instances needs: which addresses may be dialled, and which key.
public struct SSHAccess: Hashable, Sendable {
    /// Which addresses may be dialled: ``RemoteExecution/DialPolicy/unrestricted`` only for instances that are
    /// real remote machines; always loopback only when ``addressesAreFake``.
    public let dialPolicy: DialPolicy
    /// Whether the dispatcher may use a key of its own when `Containers.DispatchPrivateKey` is empty (the
    /// instances are this host and authorize the key they are given); otherwise the key is required.
    public let allowsGeneratedKey: Bool
    /// Whether the listed addresses are made up (a fake cloud on this host, such as moto): nothing may connect
    /// to the instances, so `cloudtest` checks the cloud API only.
    public let addressesAreFake: Bool

    /// SSH with `dialPolicy` (forced to loopback only when `addressesAreFake`).
    public init(
        dialPolicy: DialPolicy = .loopbackOnly,
        allowsGeneratedKey: Bool = false,
        addressesAreFake: Bool = false
    ) {
        self.dialPolicy = addressesAreFake ? .loopbackOnly : dialPolicy
        self.allowsGeneratedKey = allowsGeneratedKey
        self.addressesAreFake = addressesAreFake
    }
}
