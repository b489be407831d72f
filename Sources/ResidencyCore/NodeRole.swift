/// The role the control store records for a node.
public enum NodeRole: String, Hashable, Sendable, CaseIterable {
    case primary
    case standby
}
