import ResidencyCore

/// `residency report residency`: where every copy of every tenant's rows lives.
public enum ResidencyReport {
    /// Findings of one tenant on one node with the same status, schemas together.
    struct Line: Hashable {
        let tenant: String
        let realm: String
        let node: String
        let region: String
        let schemas: [String]
        let rows: Int64
        let status: ResidencyAudit.Status
    }

    static func lines(_ findings: [ResidencyAudit.Finding]) -> [Line] {
        var lines: [Line] = []
        for finding in findings {
            if let last = lines.last, last.tenant == finding.tenant.rawValue, last.node == finding.node.description, last.status == finding.status {
                lines[lines.count - 1] = Line(tenant: last.tenant, realm: last.realm, node: last.node, region: last.region,
                                              schemas: last.schemas + [finding.schema], rows: last.rows + finding.rows, status: last.status)
            } else {
                lines.append(Line(tenant: finding.tenant.rawValue, realm: finding.realm.rawValue, node: finding.node.description,
                                  region: finding.region.rawValue, schemas: [finding.schema], rows: finding.rows, status: finding.status))
            }
        }
        return lines
    }

    public static func text(_ findings: [ResidencyAudit.Finding], unreachable: [(node: NodeID, error: String)],
                            vault: [ResidencyAudit.VaultFinding] = []) -> String {
        var table = TextTable(header: ["TENANT", "PIN", "NODE", "REGION", "SCHEMAS", "ROWS", "STATUS"])
        for line in lines(findings) {
            table.append([line.tenant, line.realm, line.node, line.region, line.schemas.joined(separator: ","), String(line.rows), line.status.description])
        }
        var text = findings.isEmpty ? "no tenant rows on any reachable node" : table.render()
        for (node, error) in unreachable {
            text += "\nNOT CHECKED: \(node) could not be counted (\(error)); its copies are unknown"
        }
        if !vault.isEmpty {
            var table = TextTable(header: ["TENANT", "PIN", "VAULT", "SHARD", "HOLDS", "OBJECTS", "BYTES", "RETAINED UNTIL", "STATUS"])
            for finding in vault {
                let holding = finding.holding
                table.append([holding.tenant.rawValue, finding.realm.rawValue, holding.region.rawValue, holding.shard?.rawValue ?? "-",
                              holding.kind.rawValue, String(holding.objects), String(holding.bytes), holding.retainUntil, finding.status.description])
            }
            text += "\n\nvault copies (encrypted backups, in each region's vault):\n" + table.render()
        }
        let flagged = findings.filter(\.status.flagged).count + vault.filter(\.status.flagged).count
        text += flagged == 0 && unreachable.isEmpty
            ? "\nevery copy is in its tenant's realm or accounted for"
            : "\n\(flagged) copy(ies) flagged, \(unreachable.count) node(s) not checked"
        return text
    }

    public static func json(_ findings: [ResidencyAudit.Finding], unreachable: [(node: NodeID, error: String)],
                            vault: [ResidencyAudit.VaultFinding] = []) -> String {
        JSONDocument.render(Document(
            version: JSONDocument.version,
            compliant: !findings.contains(where: \.status.flagged) && !vault.contains(where: \.status.flagged) && unreachable.isEmpty,
            copies: findings.map { finding in
                var move: Int64?
                var deletesOn: String?
                var kind: String
                switch finding.status {
                case .inRealm: kind = "in-realm"
                case let .pendingDeletion(id, date): kind = "pending-deletion"; move = id; deletesOn = date
                case .notEligible: kind = "not-eligible"
                case let .incoming(id, _): kind = "incoming"; move = id
                case .violation: kind = "violation"
                case let .retentionOver(id, date): kind = "retention-over"; move = id; deletesOn = date
                }
                return Copy(tenant: finding.tenant.rawValue, pin: finding.realm.rawValue, node: finding.node.description,
                            region: finding.region.rawValue, schema: finding.schema, rows: finding.rows, status: kind,
                            flagged: finding.status.flagged, move: move, deletesOn: deletesOn, detail: finding.status.description)
            },
            notChecked: unreachable.map { NotChecked(node: $0.node.description, error: $0.error) },
            vaultCopies: vault.map { finding in
                let status = switch finding.status {
                case .inRealm: "in-realm"
                case .retainedAfterMove: "retained-after-move"
                case .violation: "violation"
                }
                return VaultCopy(tenant: finding.holding.tenant.rawValue, pin: finding.realm.rawValue, region: finding.holding.region.rawValue,
                                 shard: finding.holding.shard?.rawValue, holds: finding.holding.kind.rawValue, objects: finding.holding.objects,
                                 bytes: finding.holding.bytes, retainedUntil: finding.holding.retainUntil, status: status,
                                 flagged: finding.status.flagged, detail: finding.status.description)
            }))
    }

    struct VaultCopy: Encodable {
        let tenant: String
        let pin: String
        let region: String
        let shard: String?
        let holds: String
        let objects: Int
        let bytes: Int64
        let retainedUntil: String
        let status: String
        let flagged: Bool
        let detail: String

        enum CodingKeys: String, CodingKey {
            case tenant, pin, region, shard, holds, objects, bytes, retainedUntil = "retained_until", status, flagged, detail
        }
    }

    struct Document: Encodable {
        let version: Int
        let compliant: Bool
        let copies: [Copy]
        let notChecked: [NotChecked]
        let vaultCopies: [VaultCopy]

        enum CodingKeys: String, CodingKey {
            case version, compliant, copies, notChecked = "not_checked", vaultCopies = "vault_copies"
        }
    }

    struct Copy: Encodable {
        let tenant: String
        let pin: String
        let node: String
        let region: String
        let schema: String
        let rows: Int64
        let status: String
        let flagged: Bool
        let move: Int64?
        let deletesOn: String?
        let detail: String

        enum CodingKeys: String, CodingKey {
            case tenant, pin, node, region, schema, rows, status, flagged, move, deletesOn = "deletes_on", detail
        }
    }

    struct NotChecked: Encodable {
        let node: String
        let error: String
    }
}
