import DispatchModel
import Testing

@Suite("Runner --list format")
struct RunnerListTests {
    @Test("Running, stale and broken lines are told apart, and other clusters' lines ignored")
    func parse() {
        let output = """
            zzzzz-dz642-000000000000001
            zzzzz-dz642-000000000000002 stale
            yyyyy-dz642-000000000000003
            broken

            zzzzz-dz642-000000000000004

            """
        let list = RunnerList(parsing: output, clusterID: "zzzzz")
        #expect(list.running == ["zzzzz-dz642-000000000000001", "zzzzz-dz642-000000000000004"])
        #expect(list.stale == ["zzzzz-dz642-000000000000002"])
        #expect(list.broken)
    }

    @Test(
        "Printing and parsing round-trip",
        arguments: [
            RunnerList(),
            RunnerList(running: ["zzzzz-dz642-000000000000001"]),
            RunnerList(running: ["zzzzz-dz642-000000000000001"], stale: ["zzzzz-dz642-000000000000002"], broken: true),
        ]
    )
    func roundTrip(list: RunnerList) {
        #expect(RunnerList(parsing: list.rendered, clusterID: "zzzzz") == list)
    }

    @Test("Printed lines are exactly crunch-run's")
    func rendered() {
        let list = RunnerList(
            running: ["zzzzz-dz642-000000000000001"],
            stale: ["zzzzz-dz642-000000000000002"],
            broken: true
        )
        #expect(list.rendered == "zzzzz-dz642-000000000000001\nzzzzz-dz642-000000000000002 stale\nbroken\n")
        #expect(RunnerList().rendered == "")
    }
}
