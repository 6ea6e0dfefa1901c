import CloudDriver
import DispatchModel
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the loopback cloud remembers of one instance across restarts: `<data>/instances/<id>/instance.json`.
///
/// The file holds the host's private key, so it is written with mode 0600 in a 0700 directory.
struct InstanceRecord: Codable, Hashable, Sendable {
    var id: InstanceID
    var providerType: String
    var tags: InstanceTags
    /// The Ed25519 host key's 32-byte private seed, base64.
    var hostKey: String
    /// The client keys allowed to log in, in OpenSSH form.
    var authorizedKeys: [String]
    /// When the instance was created (seconds since 1970).
    var createdAt: Double

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case providerType = "ProviderType"
        case tags = "Tags"
        case hostKey = "HostKey"
        case authorizedKeys = "AuthorizedKeys"
        case createdAt = "CreatedAt"
    }
}

/// Where one instance's files live.
struct InstanceLayout: Hashable, Sendable {
    /// `<data>/instances/<id>`: everything the instance owns.
    var stateDirectory: String

    init(dataDirectory: String, id: InstanceID) {
        self.stateDirectory = "\(dataDirectory)/instances/\(id.rawValue)"
    }

    /// The persisted ``InstanceRecord``.
    var recordFile: String { self.stateDirectory + "/instance.json" }
    /// The runner's lock directory (`DISPATCH_RUNNER_LOCK_DIR` of every command).
    var lockDirectory: String { self.stateDirectory + "/lock" }
    /// The working directory of every command.
    var workDirectory: String { self.stateDirectory + "/work" }
    /// The instance's stand-in for `/var/run/arvados-instance-secret`.
    var secretFile: String { self.stateDirectory + "/instance-secret" }
}

/// Reading and writing records and state directories.
enum InstanceStore {
    /// The directory holding one subdirectory per instance.
    static func instancesDirectory(_ dataDirectory: String) -> String { dataDirectory + "/instances" }

    /// Creates `path` and its missing parents, private to this user.
    static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
    }

    /// Creates the instance's state, lock and work directories.
    static func makeStateDirectories(_ layout: InstanceLayout) throws {
        for path in [layout.stateDirectory, layout.lockDirectory, layout.workDirectory] {
            try Self.makeDirectory(path)
        }
    }

    /// Writes `record` atomically: a 0600 temporary file in the same directory, synced, then renamed.
    static func write(_ record: InstanceRecord, to layout: InstanceLayout) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(record)
        let temporary = layout.recordFile + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot create \(temporary): errno \(errno)") }
        let written: Bool
        do {
            try FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: data)
            written = true
        } catch {
            written = false
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written, synced, rename(temporary, layout.recordFile) == 0 else {
            unlink(temporary)
            throw StoreError("cannot write \(layout.recordFile): errno \(errno)")
        }
    }

    /// Removes every instance directory that has no record: a create the dispatcher was killed in, between
    /// making the directory and writing the record (which is what makes an instance exist). Nothing ever ran in
    /// one, and no dispatcher was told of it. Returns the names removed.
    static func removeInterruptedCreates(_ dataDirectory: String) -> [String] {
        let directory = Self.instancesDirectory(dataDirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().filter { name in
            let layout = InstanceLayout(dataDirectory: dataDirectory, id: InstanceID(rawValue: name))
            var info = stat()
            guard lstat(layout.stateDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR,
                lstat(layout.recordFile, &info) != 0, errno == ENOENT
            else { return false }
            return (try? Self.remove(layout)) != nil
        }
    }

    /// Reads every record under `dataDirectory`; unreadable ones are returned as failures, not thrown.
    static func readAll(_ dataDirectory: String) -> [Result<InstanceRecord, StoreError>] {
        let directory = Self.instancesDirectory(dataDirectory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().map { name in
            let layout = InstanceLayout(dataDirectory: dataDirectory, id: InstanceID(rawValue: name))
            guard let data = FileManager.default.contents(atPath: layout.recordFile) else {
                return .failure(StoreError("\(layout.recordFile) is missing or unreadable"))
            }
            do {
                let record = try JSONDecoder().decode(InstanceRecord.self, from: data)
                guard record.id.rawValue == name else {
                    return .failure(StoreError("\(layout.recordFile) names instance \(record.id)"))
                }
                return .success(record)
            } catch {
                return .failure(StoreError("\(layout.recordFile) cannot be decoded: \(error)"))
            }
        }
    }

    /// Removes the instance's state directory and everything in it.
    static func remove(_ layout: InstanceLayout) throws {
        guard FileManager.default.fileExists(atPath: layout.stateDirectory) else { return }
        try FileManager.default.removeItem(atPath: layout.stateDirectory)
    }
}

/// A record or directory could not be read or written.
struct StoreError: Error, Sendable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { self.message }
}
