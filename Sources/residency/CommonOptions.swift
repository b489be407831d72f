import ArgumentParser
import ResidencyRuntime

struct StateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The topology's state directory.",
        discussion: "Default: $RESIDENCY_STATE, else .residency in the working directory.",
        valueName: "dir"))
    var state: String?

    var directory: StateDirectory { StateDirectory(option: state) }
}

struct TopologyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The topology directory: topology.yaml and one file per region.", valueName: "dir"))
    var topology: String = "regions"
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print a JSON document (with a \"version\") on stdout instead of text.")
    var json = false
}
