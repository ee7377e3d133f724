import CommerceStore
import Synchronization
import Testing

@Suite struct CouponStoreTests {
    @Test(arguments: StoreKind.allCases)
    func aBatchOfIssuancesIsRecordedRowByRow(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon()
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 2, issuedAt: 50)])
            let results = try await store.coupons.recordIssues(couponID: coupon.couponID, [
                Issuance(userID: 1, issuedAt: 100),
                Issuance(userID: 2, issuedAt: 100),  // holds it from another issuance
                Issuance(userID: 2, issuedAt: 50),  // the same issuance again: already recorded
                Issuance(userID: 3, issuedAt: 100),
            ])
            #expect(results.map { (try? $0.get()) != nil } == [true, false, true, true])
            #expect((results[1].error as? CommerceError)?.code == .couponAlreadyIssued)
            #expect(try await store.coupons.issuedCount(couponID: coupon.couponID) == 3)
            #expect(try await store.coupons.issuances(couponID: coupon.couponID, afterUser: 0, limit: 10)
                    == [Issuance(userID: 1, issuedAt: 100), Issuance(userID: 2, issuedAt: 50), Issuance(userID: 3, issuedAt: 100)])

            let unknown = try await store.coupons.recordIssues(couponID: 999, [Issuance(userID: 1, issuedAt: 1), Issuance(userID: 2, issuedAt: 1)])
            #expect(unknown.map { ($0.error as? CommerceError)?.code } == [.couponNotFound, .couponNotFound])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentBatchesNeverRecordAUserTwice(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 1_000)
            // 20 batches of 50, overlapping: every user appears in two batches with different times.
            let results = try await concurrently(20) { batch in
                try await store.coupons.recordIssues(couponID: coupon.couponID, (0..<50).map { n in
                    Issuance(userID: Int64((batch * 25 + n) % 500 + 1), issuedAt: Int64(batch))
                })
            }.flatMap { $0 }
            #expect(results.filter { (try? $0.get()) != nil }.count == 500)
            #expect(results.filter { ($0.error as? CommerceError)?.code == .couponAlreadyIssued }.count == 500)
            #expect(try await store.coupons.issuedCount(couponID: coupon.couponID) == 500)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func termsChangeOnlyFromTheVersionTheCallerSaw(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 10)
            #expect(coupon.termsVersion == 1)
            let later = Timestamp(milliseconds: coupon.validUntil.milliseconds + 1_000)
            // Ten changes from the same terms at once: exactly one wins.
            let outcomes = try await concurrently(10) { n in
                try await store.coupons.changeTerms(of: coupon, stock: Int64(20 + n), validUntil: later)
            }
            let won = outcomes.compactMap { if case .changed(let coupon) = $0 { coupon } else { nil } }
            #expect(won.count == 1)
            #expect(outcomes.filter { $0 == .changedMeanwhile }.count == 9)
            let changed = try #require(try await store.coupons.coupon(coupon.couponID))
            #expect(changed == won.first && changed.termsVersion == 2)
            #expect(changed.stock >= 20 && changed.validUntil == later)
            #expect(try await store.coupons.changeTerms(of: coupon, stock: 5, validUntil: coupon.validUntil) == .changedMeanwhile, "stale version")
            // Back to the first terms is a change like any other: a new version.
            guard case .changed(let back) = try await store.coupons.changeTerms(of: changed, stock: 10, validUntil: coupon.validUntil) else {
                Issue.record("not changed")
                return
            }
            #expect(back.stock == 10 && back.termsVersion == 3)
            var missing = coupon
            missing.couponID = 999
            #expect(try await store.coupons.changeTerms(of: missing, stock: 5, validUntil: later) == .changedMeanwhile)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theStockCannotBeCutBelowItsHolders(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 5)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, (1...3).map { Issuance(userID: $0, issuedAt: 10) })
            #expect(try await store.coupons.changeTerms(of: coupon, stock: 2, validUntil: coupon.validUntil) == .belowIssued(issued: 3))
            #expect(try await store.coupons.coupon(coupon.couponID) == coupon, "nothing changed")
            guard case .changed(let cut) = try await store.coupons.changeTerms(of: coupon, stock: 3, validUntil: coupon.validUntil) else {
                Issue.record("a cut to the holders is allowed")
                return
            }
            #expect(try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 4, issuedAt: 20)])
                        .map { ($0.error as? CommerceError)?.code } == [.couponSoldOut])
            #expect(cut.stock == 3)
        }
    }

    /// Redis admitted more than the stock (a lost reply, a late restock, lost data): the store
    /// takes new holders in the batch's order up to the stock and refuses the rest as sold out.
    @Test(arguments: StoreKind.allCases)
    func theStoreTakesNoMoreHoldersThanTheStock(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 3)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 9, issuedAt: 5)])
            let results = try await store.coupons.recordIssues(couponID: coupon.couponID, [
                Issuance(userID: 1, issuedAt: 10),
                Issuance(userID: 9, issuedAt: 5),  // already recorded: success, takes no stock
                Issuance(userID: 2, issuedAt: 11),
                Issuance(userID: 3, issuedAt: 12),
                Issuance(userID: 4, issuedAt: 13),
            ])
            #expect(results.map { ($0.error as? CommerceError)?.code } == [nil, nil, nil, .couponSoldOut, .couponSoldOut])
            #expect(try await store.coupons.issuedCount(couponID: coupon.couponID) == 3)
            #expect(try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 5, issuedAt: 20)])
                        .map { ($0.error as? CommerceError)?.code } == [.couponSoldOut])
            #expect(try await store.coupons.issuances(couponID: coupon.couponID, afterUser: 0, limit: 10).map(\.userID) == [1, 2, 9])
        }
    }

    /// Many writers at once, on separate connections (two stores on one database: two
    /// processes' worth), each sure Redis said yes: exactly `stock` rows, never more.
    @Test(arguments: StoreKind.allCases)
    func concurrentWritersOfTwoProcessesNeverPassTheStock(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { stores in
            let coupon = try await stores[0].coupon(stock: 150)
            let results = try await concurrently(24) { batch in
                try await stores[batch % 2].coupons.recordIssues(couponID: coupon.couponID, (0..<40).map { n in
                    Issuance(userID: Int64(batch * 40 + n + 1), issuedAt: Int64(batch))
                })
            }.flatMap { $0 }
            #expect(results.filter { (try? $0.get()) != nil }.count == 150)
            #expect(results.filter { ($0.error as? CommerceError)?.code == .couponSoldOut }.count == 24 * 40 - 150)
            #expect(try await stores[1].coupons.issuedCount(couponID: coupon.couponID) == 150)
            // The reconcile job's inserts are held to the stock too.
            let added = try await stores[1].coupons.recordMissingIssuances(
                couponID: coupon.couponID, dryRun: false, next: once([Issuance(userID: 5_000, issuedAt: 1)]), checked: { _ in })
            #expect(added == 0)
            #expect(try await stores[0].coupons.issuedCount(couponID: coupon.couponID) == 150)
        }
    }

    /// An issuance whose client was told nothing was issued never becomes a row by the
    /// reconcile job; finishing it removes a row it got before it was recorded.
    @Test(arguments: StoreKind.allCases)
    func pendingGiveBacksAreNeverRecordedAsIssued(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 10)
            let early = Issuance(userID: 1, issuedAt: 10)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [early])
            let told503 = Issuance(userID: 2, issuedAt: 20)
            try await store.coupons.recordGiveBacks(couponID: coupon.couponID, [told503, early], at: 30)
            #expect(Set(try await store.coupons.pendingGiveBacks(couponID: coupon.couponID, limit: 10)) == [told503, early])
            let fromRedis = [told503, Issuance(userID: 3, issuedAt: 21)]
            #expect(try await store.coupons.recordMissingIssuances(couponID: coupon.couponID, dryRun: true, next: once(fromRedis),
                                                                    checked: { _ in }) == 1)
            #expect(try await store.coupons.recordMissingIssuances(couponID: coupon.couponID, dryRun: false, next: once(fromRedis),
                                                                    checked: { _ in }) == 1)
            #expect(try await store.coupons.holders(couponID: coupon.couponID, among: [1, 2, 3]) == [1: 10, 3: 21])
            try await store.coupons.finishGiveBack(couponID: coupon.couponID, early)
            try await store.coupons.finishGiveBack(couponID: coupon.couponID, told503)
            #expect(try await store.coupons.holders(couponID: coupon.couponID, among: [1, 2, 3]) == [3: 21])
            #expect(try await store.coupons.pendingGiveBacks(couponID: coupon.couponID, limit: 10).isEmpty)
            #expect(try await store.coupons.issuedCount(couponID: coupon.couponID) == 1)
            // The count of holders followed the removal: the stock left is 9.
            let results = try await store.coupons.recordIssues(couponID: coupon.couponID, (10...19).map { Issuance(userID: $0, issuedAt: 40) })
            #expect(results.filter { (try? $0.get()) != nil }.count == 9)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func activeCouponsAreThoseWhoseWindowHoldsTheMoment(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            func coupon(_ from: Int64, _ until: Int64) async throws -> Int64 {
                try await store.coupons.create(NewCoupon(name: "C", discountType: .fixed, discountValue: 1, stock: 1,
                                                         validFrom: Timestamp(milliseconds: from), validUntil: Timestamp(milliseconds: until)),
                                               at: 0).couponID
            }
            let past = try await coupon(0, 999)
            let open = try await coupon(500, 2_000)
            let startsNow = try await coupon(1_000, 1_500)
            let endsNow = try await coupon(0, 1_000)
            let future = try await coupon(1_001, 3_000)
            #expect(try await store.coupons.active(at: 1_000, limit: 10).map(\.couponID) == [open, startsNow, endsNow])
            #expect(try await store.coupons.active(at: 1_000, limit: 2).map(\.couponID) == [open, startsNow])
            #expect(try await store.coupons.active(at: 2_500, limit: 10).map(\.couponID) == [future])
            #expect(!(try await store.coupons.active(at: 1_000, limit: 10).map(\.couponID).contains(past)))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aCouponIsListedForItsHoldersAndDeletedOnlyWhileNobodyHoldsIt(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let first = try await store.coupon()
            let second = try await store.coupon(.percent, value: 5)
            #expect(try await store.coupons.page(afterID: 0, limit: 10).map(\.couponID) == [first.couponID, second.couponID])
            _ = try await store.coupons.recordIssues(couponID: first.couponID, [Issuance(userID: 1, issuedAt: 10)])
            _ = try await store.coupons.recordIssues(couponID: second.couponID, [Issuance(userID: 1, issuedAt: 20)])
            #expect(try await store.coupons.held(userID: 1).map(\.coupon.couponID) == [second.couponID, first.couponID])

            try await store.coupons.delete(couponID: first.couponID)
            #expect(try await store.coupons.coupon(first.couponID) == first)
            let unheld = try await store.coupon()
            try await store.coupons.delete(couponID: unheld.couponID)
            #expect(try await store.coupons.coupon(unheld.couponID) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func missingIssuancesAreAddedWithTheirTimesAndNothingElse(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 10_000)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, (1...100).map { Issuance(userID: $0, issuedAt: 7) })
            // What Redis holds: users 1...300 in scrambled batches, some entries twice (HSCAN may repeat).
            let held = (1...300).map { Issuance(userID: Int64($0 * 7 % 300 + 1), issuedAt: 9) }
            let batches = stride(from: 0, to: held.count, by: 64).map { Array(held[$0..<min($0 + 64, held.count)]) } + [Array(held[0..<10])]
            func feed() -> @Sendable () async throws -> [Issuance]? {
                let left = Mutex(batches)
                return { left.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
            }
            let counted = try await store.coupons.recordMissingIssuances(couponID: coupon.couponID, dryRun: true, next: feed(), checked: { _ in })
            #expect(counted == 200)
            #expect(try await store.coupons.issuedCount(couponID: coupon.couponID) == 100)

            let added = try await store.coupons.recordMissingIssuances(couponID: coupon.couponID, dryRun: false, next: feed(), checked: { _ in })
            #expect(added == 200)
            let rows = try await store.coupons.issuances(couponID: coupon.couponID, afterUser: 0, limit: 1_000)
            #expect(rows.map(\.userID) == Array(1...300))
            #expect(rows.allSatisfy { $0.issuedAt == ($0.userID <= 100 ? 7 : 9) })
            #expect(try await store.coupons.recordMissingIssuances(couponID: coupon.couponID, dryRun: false, next: feed(), checked: { _ in }) == 0)
        }
    }
}

/// A feed of one batch, then nil.
func once(_ batch: [Issuance]) -> @Sendable () async throws -> [Issuance]? {
    let left = Mutex<[Issuance]?>(batch)
    return { left.withLock { batch in defer { batch = nil }; return batch } }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
