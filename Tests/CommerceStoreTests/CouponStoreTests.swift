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
    func termsChangeOnlyFromTheTermsTheCallerSaw(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let coupon = try await store.coupon(stock: 10)
            let later = Timestamp(milliseconds: coupon.validUntil.milliseconds + 1_000)
            // Ten changes from the same terms at once: exactly one wins.
            let won = try await concurrently(10) { n in
                try await store.coupons.changeTerms(of: coupon, stock: Int64(20 + n), validUntil: later)
            }
            #expect(won.filter { $0 }.count == 1)
            let changed = try #require(try await store.coupons.coupon(coupon.couponID))
            #expect(changed.stock >= 20 && changed.validUntil == later)
            #expect(try await store.coupons.changeTerms(of: coupon, stock: 5, validUntil: coupon.validUntil) == false, "stale terms")
            #expect(try await store.coupons.changeTerms(of: changed, stock: 5, validUntil: coupon.validUntil))
            #expect(try await store.coupons.coupon(coupon.couponID)?.stock == 5)
            var missing = coupon
            missing.couponID = 999
            #expect(try await store.coupons.changeTerms(of: missing, stock: 5, validUntil: later) == false)
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

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
