import ResidencyCore
import Testing

@Suite struct IdentifierTests {
    @Test(arguments: ["eu", "eu-central", "eu-central-1", "a1", "x"])
    func acceptsLowerCaseWordsJoinedBySingleHyphens(_ name: String) {
        #expect(ZoneID.isWellFormed(name))
    }

    @Test(arguments: ["", "Eu", "1eu", "eu--central", "eu-", "-eu", "eu_central", "eu central", "eu.central", "é",
                      String(repeating: "a", count: 29)])
    func refusesAnythingElse(_ name: String) {
        #expect(!ZoneID.isWellFormed(name))
    }

    @Test func postgresNamesOfNodesAreDistinctEvenWhenTheHyphensMove() {
        let a = NodeID(shard: "x-y", zone: "z")
        let b = NodeID(shard: "x", zone: "y-z")
        #expect(a.postgresName == "x_y__z")
        #expect(b.postgresName == "x__y_z")
        #expect(a.postgresName != b.postgresName)
    }

    @Test func theLongestNodeNameFitsAPostgresIdentifier() {
        let long = String(repeating: "a", count: ZoneID.maximumLength)
        #expect(NodeID(shard: ShardID(long), zone: ZoneID(long)).postgresName.utf8.count <= 63)
    }

    @Test(arguments: ["acme", "a", "acme-eu-2", "0", String(repeating: "a", count: 63)])
    func tenantNamesMatchTheirPattern(_ name: String) {
        #expect(TenantID(validating: name) != nil)
    }

    @Test(arguments: ["", "Acme", "acme_eu", "acme eu", "acme'; DROP TABLE x; --", String(repeating: "a", count: 64), "acmé"])
    func otherTenantNamesAreRefused(_ name: String) {
        #expect(TenantID(validating: name) == nil)
    }
}
