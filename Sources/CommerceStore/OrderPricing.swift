/// What pricing an order needs, as the store holds it at one moment: the order's live items,
/// the user's hold of the coupon, the user's balance (``OrderStore/quote(_:)``).
public struct OrderQuote: Sendable, Hashable {
    /// The user's issuance of the ordered coupon, with the coupon's terms.
    public struct HeldCoupon: Sendable, Hashable {
        public var couponID: Int64
        public var discountType: DiscountType
        public var discountValue: Int64
        /// The validity window, inclusive, in ms since the epoch.
        public var validFrom: Int64
        public var validUntil: Int64
        /// The terms the window was read under (see ``Coupon/termsVersion``).
        public var termsVersion: Int64
        public var used: Bool

        public init(couponID: Int64, discountType: DiscountType, discountValue: Int64, validFrom: Int64, validUntil: Int64,
                    termsVersion: Int64, used: Bool) {
            self.couponID = couponID
            self.discountType = discountType
            self.discountValue = discountValue
            self.validFrom = validFrom
            self.validUntil = validUntil
            self.termsVersion = termsVersion
            self.used = used
        }
    }

    /// The live items among those ordered (missing and deleted ones left out), in any order.
    public var items: [Item]
    /// Nil when no coupon was ordered or the user does not hold it.
    public var coupon: HeldCoupon?
    /// The user's balance (0 for a user who never charged).
    public var balance: Int64

    public init(items: [Item], coupon: HeldCoupon?, balance: Int64) {
        self.items = items
        self.coupon = coupon
        self.balance = balance
    }
}

/// An order priced from a quote: what the store writes, and the conditions under which the
/// quote still holds (each line's price, the coupon's terms; stock and balance as amounts).
public struct PricedOrder: Sendable, Hashable {
    public var userID: Int64
    /// In item id order: the order in which items are locked, stored and read back.
    public var lines: [OrderLine]
    public var subtotal: Int64
    public var discount: Int64
    public var total: Int64
    public var couponID: Int64?
    /// The coupon's ``OrderQuote/HeldCoupon/termsVersion`` the discount was decided under.
    public var couponTermsVersion: Int64?
}

/// What an order comes to: priced, or refused with the contract's reason.
public struct OrderPlan: Sendable, Hashable {
    public var userID: Int64
    public var outcome: Result<PricedOrder, CommerceError>
}

/// The order rules, once for every driver: which refusal comes first, how a line and the
/// discount are priced, when a coupon may be used. The drivers read (``OrderStore/quote(_:)``)
/// and write (``OrderStore/carryOut(_:at:idempotency:)``); they decide nothing.
public enum OrderPricing {
    /// Prices `order` from `quote` at `now`. Refusals in the contract's order: every missing
    /// item (`ITEM_NOT_FOUND`), every item short of stock (`INSUFFICIENT_STOCK`), the coupon not
    /// held, used, or outside its window, the balance below the total (a free order needs none).
    public static func plan(_ order: NewOrder, quote: OrderQuote, at now: Int64) -> OrderPlan {
        do {
            return OrderPlan(userID: order.userID, outcome: .success(try price(order, quote: quote, at: now)))
        } catch {
            return OrderPlan(userID: order.userID, outcome: .failure(error))
        }
    }

    private static func price(_ order: NewOrder, quote: OrderQuote, at now: Int64) throws(CommerceError) -> PricedOrder {
        let requested = order.lines.sorted { $0.itemID < $1.itemID }
        let live = Dictionary(quote.items.map { ($0.itemID, $0) }, uniquingKeysWith: { first, _ in first })
        let missing = requested.filter { live[$0.itemID] == nil }.map(\.itemID)
        guard missing.isEmpty else { throw .itemsNotFound(missing) }
        let short = requested.filter { live[$0.itemID]!.stock < $0.quantity }.map(\.itemID)
        guard short.isEmpty else { throw .insufficientStock(short) }
        let lines = requested.map { line in
            let item = live[line.itemID]!
            return OrderLine(itemID: item.itemID, name: item.name, quantity: line.quantity, unitPrice: item.price,
                             lineTotal: item.price * line.quantity)
        }
        let subtotal = lines.reduce(0) { $0 + $1.lineTotal }

        var discount: Int64 = 0
        if let couponID = order.couponID {
            guard let held = quote.coupon, held.couponID == couponID else {
                throw .couponNotOwned(userID: order.userID, couponID: couponID)
            }
            guard !held.used else { throw .couponAlreadyUsed(couponID) }
            guard held.validFrom <= now && now <= held.validUntil else {
                throw .couponExpired(couponID, validFrom: held.validFrom, validUntil: held.validUntil, now: now)
            }
            discount = held.discountType.discount(held.discountValue, on: subtotal)
        }
        let total = subtotal - discount
        guard total == 0 || quote.balance >= total else {
            throw .insufficientBalance(cost: total, userID: order.userID, balance: quote.balance)
        }
        return PricedOrder(userID: order.userID, lines: lines, subtotal: subtotal, discount: discount, total: total,
                           couponID: order.couponID, couponTermsVersion: order.couponID == nil ? nil : quote.coupon?.termsVersion)
    }
}

extension OrderPricing {
    /// Runs `attempt` (quote, price, carry out) again while it throws ``OrderQuoteStale``: each
    /// round sees what changed, so a few suffice; past eight the store is too busy to say.
    public static func retryingStaleQuotes<Result>(_ attempt: () async throws -> Result) async throws -> Result {
        for _ in 0..<8 {
            do {
                return try await attempt()
            } catch is OrderQuoteStale {
                continue
            }
        }
        throw StoreError(.unavailable, "the order's items, coupon or balance kept changing while it was placed; try again")
    }
}

/// The store changed between an order's quote and its writing (a price, the coupon's terms or
/// use, the stock or the balance): nothing was written; quote again.
public struct OrderQuoteStale: Error, Sendable {
    public init() {}
}

extension OrderStore {
    /// Places `order`: quoted, priced by ``OrderPricing``, carried out — and quoted again when
    /// the store changed in between (each round sees the change: a refusal or another price).
    /// A refusal changes nothing; with `idempotency` it is stored under the key like an order.
    public func place(_ order: NewOrder, at now: Int64,
                      idempotency: IdempotencyRequest<Order>?) async throws -> IdempotentResult<Order> {
        try await OrderPricing.retryingStaleQuotes {
            try await carryOut(OrderPricing.plan(order, quote: try await quote(order), at: now), at: now, idempotency: idempotency)
        }
    }
}
