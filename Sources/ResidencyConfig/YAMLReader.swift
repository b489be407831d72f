import CYaml
import ResidencyCore
import Yams

/// Typed reads of a composed YAML tree that record a positioned problem instead of failing
/// on the first one, so one run of `validate` lists everything wrong with a file.
struct YAMLReader {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    mutating func problem(at node: Node?, _ message: String) {
        let mark = node?.mark
        problems.append(ConfigProblem(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    /// The largest topology or scenario file read (they are a few kilobytes).
    static let maximumBytes = 1 << 20

    /// Reads the file's single document; `nil` (with a problem recorded) when it does not parse.
    /// Aliases are refused before anything is composed (`aliasMark`): expanded, a file of
    /// a few hundred bytes can stand for billions of nodes.
    mutating func compose(_ text: String) -> Node? {
        guard text.utf8.count <= Self.maximumBytes else {
            problem(at: nil, "the file is larger than \(Self.maximumBytes / 1024) KiB; topology and scenario files are a few KiB")
            return nil
        }
        if let mark = Self.aliasMark(text) {
            problems.append(ConfigProblem(
                file: file, line: mark.line, column: mark.column,
                message: "YAML aliases (*name) are not accepted here: write the value out (expanded, aliases can turn a small file into billions of nodes)"))
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                problem(at: nil, "the file is empty")
                return nil
            }
            return node
        } catch let error as YamlError {
            let (mark, message) = Self.describe(error)
            problems.append(ConfigProblem(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
            return nil
        } catch {
            problem(at: nil, "cannot parse: \(error)")
            return nil
        }
    }

    /// Where the first alias is (1-based line and column), found with libyaml's event
    /// parser, which expands nothing; `nil` when there is none, or when the text does not
    /// parse (composing it reports that).
    static func aliasMark(_ text: String) -> (line: Int, column: Int)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> (line: Int, column: Int)? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                if event.type == YAML_ALIAS_EVENT {
                    return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1)
                }
                if event.type == YAML_STREAM_END_EVENT { return nil }
            }
            return nil
        }
    }

    private static func describe(_ error: YamlError) -> (Mark?, String) {
        switch error {
        case let .scanner(context, problem, mark, _):
            return (mark, "YAML syntax: \(problem)" + (context.map { " \($0.text)" } ?? ""))
        case let .parser(context, problem, mark, _):
            return (mark, "YAML syntax: \(problem)" + (context.map { " \($0.text)" } ?? ""))
        case let .composer(context, problem, mark, _):
            return (mark, "YAML: \(problem)" + (context.map { " \($0.text)" } ?? ""))
        case let .duplicatedKeysInMapping(duplicates, context):
            return (context.mark, "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", "))")
        default:
            return (nil, "cannot parse: \(error)")
        }
    }

    /// The entries of a mapping, keyed by their (string) keys, after refusing keys outside
    /// `allowed` and reporting `required` keys that are missing.
    mutating func mapping(
        _ node: Node, what: String, allowed: [String], required: [String] = []
    ) -> [String: (key: Node, value: Node)]? {
        guard case let .mapping(mapping) = node else {
            problem(at: node, "\(what) must be a mapping")
            return nil
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                problem(at: key, "\(what): keys must be strings")
                continue
            }
            if !allowed.contains(name) {
                problem(at: key, "unknown key '\(name)' in \(what) (allowed: \(allowed.joined(separator: ", ")))")
                continue
            }
            entries[name] = (key, value)
        }
        for name in required where entries[name] == nil {
            problem(at: node, "\(what) is missing '\(name)'")
        }
        return entries
    }

    /// The pairs of a mapping whose keys are names chosen by the user (realms, tiers).
    mutating func namedEntries(_ node: Node, what: String) -> [(key: Node, name: String, value: Node)] {
        guard case let .mapping(mapping) = node else {
            problem(at: node, "\(what) must be a mapping")
            return []
        }
        return mapping.compactMap { key, value in
            guard let name = key.string else {
                problem(at: key, "\(what): keys must be strings")
                return nil
            }
            return (key, name, value)
        }
    }

    mutating func sequence(_ node: Node, what: String) -> [Node] {
        guard case let .sequence(sequence) = node else {
            problem(at: node, "\(what) must be a list")
            return []
        }
        return Array(sequence)
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard case let .scalar(scalar) = node else {
            problem(at: node, "\(what) must be a single value")
            return nil
        }
        // YAML's null (`null`, `~`, nothing) is no value: quote it to mean the word.
        if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            problem(at: node, "\(what) is empty (YAML null)" + (scalar.string.isEmpty || scalar.string == "~" ? "" : "; write \"\(scalar.string)\" in quotes to mean the word"))
            return nil
        }
        return scalar.string
    }

    /// A name that must be `Identifier.isWellFormed`.
    mutating func name<Kind>(_ node: Node, what: String, as _: Identifier<Kind>.Type = Identifier<Kind>.self)
        -> Identifier<Kind>?
    {
        guard let text = string(node, what: what) else { return nil }
        guard Identifier<Kind>.isWellFormed(text) else {
            problem(at: node, "\(what) '\(text)' is not a valid name: lower-case letters, digits and single hyphens, starting with a letter, at most \(Identifier<Kind>.maximumLength) characters")
            return nil
        }
        return Identifier(text)
    }

    mutating func integer(_ node: Node, what: String, in range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, what: what) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            problem(at: node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            return nil
        }
        return value
    }

    mutating func percent(_ node: Node, what: String, allowZero: Bool) -> Double? {
        guard let text = string(node, what: what) else { return nil }
        guard let value = Double(text), value <= 100, allowZero ? value >= 0 : value > 0 else {
            problem(at: node, "\(what) must be a percentage \(allowZero ? "from 0" : "above 0") to 100, not '\(text)'")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, what: String) -> Bool? {
        guard let text = string(node, what: what) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            problem(at: node, "\(what) must be true or false, not '\(text)'")
            return nil
        }
    }
}
