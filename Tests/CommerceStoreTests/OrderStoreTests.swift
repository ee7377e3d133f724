import CommerceStore
import Testing

@Suite struct OrderStoreTests {
    @Test(arguments: StoreKind.allCases)
    func anOrderTakesStockPointsAndTheCouponTogether(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let cheap = try await store.item(price: 300, stock: 10)
            let dear = try await store.item(price: 1_000, stock: 5)
            let coupon = try await store.coupon(.percent, value: 10)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 1, issuedAt: 100)])
            _ = try await store.points.charge(userID: 1, amount: 10_000, at: 10, idempotency: nil)

            let order = try await store.order(user: 1, [(dear.itemID, 2), (cheap.itemID, 3)], coupon: coupon.couponID)
            #expect(order.items.map(\.itemID) == [cheap.itemID, dear.itemID])
            #expect(order.items.map(\.lineTotal) == [900, 2_000])
            #expect((order.subtotal, order.discount, order.total, order.balanceAfter) == (2_900, 290, 2_610, 7_390))
            #expect(try await store.items.item(cheap.itemID)?.stock == 7)
            #expect(try await store.items.item(dear.itemID)?.stock == 3)
            #expect(try await store.points.balance(userID: 1).balance == 7_390)
            let use = try #require(try await store.points.history(userID: 1, limit: 1).first)
            #expect((use.kind, use.amount, use.orderID) == (.use, -2_610, order.orderID))
            let held = try await store.coupons.held(userID: 1)
            #expect(held.first?.orderID == order.orderID && held.first?.usedAt != nil)
            #expect(try await store.orders.order(order.orderID) == order)
            #expect(try await store.orders.orders(userID: 1, limit: 10) == [order])
        }
    }

    /// The rounding the contract states, kept by every driver: PERCENT rounds the discount
    /// down, FIXED never passes the subtotal (a free order moves no points).
    @Test(arguments: StoreKind.allCases)
    func discountsRoundDownAndNeverPassTheSubtotal(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 333, stock: 10)
            let percent = try await store.coupon(.percent, value: 15)
            let fixed = try await store.coupon(.fixed, value: 1_000)
            for coupon in [percent, fixed] {
                _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 1, issuedAt: 100)])
            }
            _ = try await store.points.charge(userID: 1, amount: 10_000, at: 10, idempotency: nil)

            let rounded = try await store.order(user: 1, [(item.itemID, 3)], coupon: percent.couponID)
            #expect((rounded.subtotal, rounded.discount, rounded.total, rounded.balanceAfter) == (999, 149, 850, 9_150),
                    "15% of 999 is 149.85: 149")
            let free = try await store.order(user: 1, [(item.itemID, 1)], coupon: fixed.couponID)
            #expect((free.subtotal, free.discount, free.total, free.balanceAfter) == (333, 333, 0, 9_150))
            #expect(try await store.points.history(userID: 1, limit: 10).filter { $0.kind == .use }.map(\.amount) == [-850])
        }
    }

    /// What the store held when the order was priced changed before it was written (a new
    /// price, the coupon used by another order): nothing is written, and placing it again
    /// prices it anew.
    @Test(arguments: StoreKind.allCases)
    func aQuoteTheStoreOutranIsNeverWritten(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 100, stock: 10)
            let coupon = try await store.coupon(.fixed, value: 10)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 1, issuedAt: 100)])
            _ = try await store.points.charge(userID: 1, amount: 10_000, at: 10, idempotency: nil)
            let order = NewOrder(userID: 1, lines: [NewOrder.Line(itemID: item.itemID, quantity: 2)], couponID: coupon.couponID)

            let stale = OrderPricing.plan(order, quote: try await store.orders.quote(order), at: 2_000)
            _ = try await store.items.update(itemID: item.itemID, name: nil, price: 150, stock: nil, at: 1_500)
            await #expect(throws: OrderQuoteStale.self) { try await store.orders.carryOut(stale, at: 2_000, idempotency: nil) }
            #expect(try await store.items.item(item.itemID)?.stock == 10)
            #expect(try await store.points.balance(userID: 1).balance == 10_000)

            let repriced = try await store.order(user: 1, [(item.itemID, 2)], coupon: coupon.couponID)
            #expect((repriced.subtotal, repriced.total) == (300, 290))

            let second = NewOrder(userID: 1, lines: [NewOrder.Line(itemID: item.itemID, quantity: 1)], couponID: coupon.couponID)
            let beforeUse = try await store.orders.quote(second)
            #expect(beforeUse.coupon?.used == true)
            var unused = beforeUse
            unused.coupon?.used = false  // as quoted just before the first order used it
            await #expect(throws: OrderQuoteStale.self) {
                try await store.orders.carryOut(OrderPricing.plan(second, quote: unused, at: 2_000), at: 2_000, idempotency: nil)
            }
            #expect(try await store.items.item(item.itemID)?.stock == 8)
            #expect(await refusal { try await store.order(user: 1, [(item.itemID, 1)], coupon: coupon.couponID) } == .couponAlreadyUsed)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aRefusedOrderLeavesNothingBehind(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let plenty = try await store.item(price: 100, stock: 10)
            let scarce = try await store.item(price: 100, stock: 1)
            let coupon = try await store.coupon()
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 1, issuedAt: 100)])
            _ = try await store.points.charge(userID: 1, amount: 10_000, at: 10, idempotency: nil)

            // The plentiful line is taken first (item id order), then the scarce one refuses.
            #expect(await refusal { try await store.order(user: 1, [(plenty.itemID, 2), (scarce.itemID, 2)], coupon: coupon.couponID) }
                    == .insufficientStock)
            #expect(await refusal { try await store.order(user: 1, [(plenty.itemID, 1), (999, 1), (scarce.itemID, 5)]) } == .itemNotFound)
            #expect(await refusal { try await store.order(user: 2, [(plenty.itemID, 1)]) } == .insufficientBalance)
            #expect(await refusal { try await store.order(user: 1, [(plenty.itemID, 1)], coupon: 12_345) } == .couponNotOwned)

            #expect(try await store.items.item(plenty.itemID)?.stock == 10)
            #expect(try await store.items.item(scarce.itemID)?.stock == 1)
            #expect(try await store.points.balance(userID: 1).balance == 10_000)
            #expect(try await store.orders.orders(userID: 1, limit: 10).isEmpty)
            #expect(try await store.coupons.held(userID: 1).first?.usedAt == nil)
            #expect(try await store.outbox.backlog(sink: "test") == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentOrdersNeverSellMoreThanTheStock(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 10, stock: 25)
            for user in 1...8 { _ = try await store.points.charge(userID: Int64(user), amount: 1_000, at: 10, idempotency: nil) }
            let refusals = try await concurrently(80) { index in
                await refusal { try await store.order(user: Int64(index % 8 + 1), [(item.itemID, 1)]) }
            }
            #expect(refusals.filter { $0 == nil }.count == 25)
            #expect(refusals.filter { $0 == .insufficientStock }.count == 55)
            #expect(try await store.items.item(item.itemID)?.stock == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aCouponPaysForOneOrderOnly(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 500, stock: 10)
            let coupon = try await store.coupon(.fixed, value: 1_000)
            _ = try await store.coupons.recordIssues(couponID: coupon.couponID, [Issuance(userID: 1, issuedAt: 100)])
            let refusals = try await concurrently(10) { _ in
                await refusal { try await store.order(user: 1, [(item.itemID, 1)], coupon: coupon.couponID) }
            }
            // The coupon covers the whole order: the first order is free, every other one is refused.
            #expect(refusals.filter { $0 == nil }.count == 1)
            #expect(refusals.filter { $0 == .couponAlreadyUsed }.count == 9)
            #expect(try await store.items.item(item.itemID)?.stock == 9)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aRepeatedKeyPlacesOneOrderAndReplaysIt(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let item = try await store.item(price: 100, stock: 10)
            _ = try await store.points.charge(userID: 1, amount: 1_000, at: 10, idempotency: nil)
            let order = NewOrder(userID: 1, lines: [.init(itemID: item.itemID, quantity: 1)], couponID: nil)
            let results = try await concurrently(10) { _ in
                try await store.orders.place(order, at: 20, idempotency: idempotency("order-1"))
            }
            #expect(results.filter { $0.value != nil }.count == 1)
            #expect(results.filter { $0.ran == nil }.count == 9)
            #expect(try await store.items.item(item.itemID)?.stock == 9)
            #expect(try await store.points.balance(userID: 1).balance == 900)

            // A refusal is remembered too: the retry is refused the same way even once it could succeed.
            let big = NewOrder(userID: 1, lines: [.init(itemID: item.itemID, quantity: 50)], couponID: nil)
            let first = try await store.orders.place(big, at: 30, idempotency: idempotency("order-2"))
            #expect(first.refusal == .insufficientStock)
            _ = try await store.items.update(itemID: item.itemID, name: nil, price: nil, stock: 100, at: 31)
            guard case .replayed(let response) = try await store.orders.place(big, at: 32, idempotency: idempotency("order-2")) else {
                Issue.record("the retry was not replayed")
                return
            }
            #expect(response == StoredResponse(status: 409, body: Array("INSUFFICIENT_STOCK".utf8)))
        }
    }
}
