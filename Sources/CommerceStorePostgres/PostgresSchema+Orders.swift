/// The order functions' migrations (see ``PostgresSchema/migrations``): v2's `place_order`,
/// kept as it shipped (an applied migration never changes), and v4's `carry_out_order`, which
/// replaces it.
extension PostgresSchema {
    /// `carry_out_order(user, item ids, quantities, unit prices, names, coupon, its terms version,
    /// subtotal, discount, total, now)`: an order priced by `OrderPricing` written as one
    /// statement, one round trip (postgres-nio does not pipeline, and on a busy machine every
    /// round trip is a wake-up of both processes). The conditions of
    /// `OrderStore.carryOut(_:at:idempotency:)`, in the order the SQLite driver checks them:
    /// each line's stock taken while the item is live, at the priced unit price, with the stock
    /// (the caller sorts lines by item id: every transaction locks items in that order); the
    /// balance taken while it covers the total; then the order, its lines, its `USE` entry and
    /// the coupon's use while it is held, unused and under the priced terms. A failed condition
    /// raises `P0001` `ORDER_QUOTE_STALE`, undoing the statement. It decides nothing: pricing and
    /// refusals are the caller's.
    static let carryOutOrder = """
        CREATE FUNCTION carry_out_order(p_user bigint, p_items bigint[], p_quantities bigint[], p_prices bigint[],
                                        p_names text[], p_coupon bigint, p_terms_version bigint,
                                        p_subtotal bigint, p_discount bigint, p_total bigint, p_now bigint)
        RETURNS TABLE (o_id bigint, o_position bigint, o_balance_after bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_balance bigint;
            v_order bigint;
            v_position bigint;
        BEGIN
            FOR i IN 1 .. cardinality(p_items) LOOP
                UPDATE items SET stock = stock - p_quantities[i], updated_at = p_now
                WHERE id = p_items[i] AND deleted_at IS NULL AND stock >= p_quantities[i] AND price = p_prices[i];
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'ORDER_QUOTE_STALE';
                END IF;
            END LOOP;
            IF p_total > 0 THEN
                UPDATE user_point SET balance = balance - p_total, updated_at = p_now
                WHERE user_id = p_user AND balance >= p_total
                RETURNING balance INTO v_balance;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'ORDER_QUOTE_STALE';
                END IF;
            ELSE
                -- A free order (a coupon covering everything) moves no points and needs no balance.
                INSERT INTO users (id, created_at) VALUES (p_user, p_now) ON CONFLICT (id) DO NOTHING;
                v_balance := coalesce((SELECT balance FROM user_point WHERE user_id = p_user), 0);
            END IF;
            INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at)
            VALUES (p_user, 'PAID', p_subtotal, p_discount, p_total, p_coupon, v_balance, p_now)
            RETURNING id, txid INTO v_order, v_position;
            INSERT INTO order_items (order_id, item_id, name, quantity, unit_price, line_total)
            SELECT v_order, p_items[k], p_names[k], p_quantities[k], p_prices[k], p_prices[k] * p_quantities[k]
            FROM generate_subscripts(p_items, 1) AS k;
            IF p_total > 0 THEN
                INSERT INTO point_history (user_id, kind, amount, balance_after, order_id, created_at)
                VALUES (p_user, 'USE', -p_total, v_balance, v_order, p_now);
            END IF;
            IF p_coupon IS NOT NULL THEN
                UPDATE user_coupons SET used_at = p_now, order_id = v_order
                WHERE user_id = p_user AND coupon_id = p_coupon AND used_at IS NULL
                AND (SELECT terms_version FROM coupons WHERE id = p_coupon) = p_terms_version;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'ORDER_QUOTE_STALE';
                END IF;
            END IF;
            RETURN QUERY SELECT v_order, v_position, v_balance;
        END
        $$
        """

    /// `place_order(user, item ids, quantities, coupon, now)` (v2, dropped by v4): the whole order as one statement,
    /// one round trip instead of one per step (postgres-nio does not pipeline, and on a busy
    /// machine every round trip is a wake-up of both processes). The same steps and refusals as
    /// the SQLite driver's `OrderBook.place`: stock taken line by line in the order given (the
    /// caller sorts by item id: every transaction locks items in that order), the coupon
    /// checked, the balance debited conditionally, then the order, its lines, its `USE` entry and
    /// the coupon's use. A refusal raises `P0001` with the contract's code as the message and the
    /// numbers the caller words it with as the detail (``PostgresOrderRefusal``); the statement's
    /// changes are undone with it.
    static let placeOrder = """
        CREATE FUNCTION place_order(p_user bigint, p_items bigint[], p_quantities bigint[], p_coupon bigint, p_now bigint)
        RETURNS TABLE (o_id bigint, o_position bigint, o_subtotal bigint, o_discount bigint, o_total bigint,
                       o_balance_after bigint, o_names text[], o_prices bigint[])
        LANGUAGE plpgsql AS $$
        DECLARE
            v_names text[] := '{}';
            v_prices bigint[] := '{}';
            v_missing bigint[] := '{}';
            v_short bigint[] := '{}';
            v_name text;
            v_price bigint;
            v_subtotal bigint := 0;
            v_discount bigint := 0;
            v_total bigint;
            v_balance bigint;
            v_held record;
            v_order bigint;
            v_position bigint;
        BEGIN
            FOR i IN 1 .. cardinality(p_items) LOOP
                UPDATE items SET stock = stock - p_quantities[i], updated_at = p_now
                WHERE id = p_items[i] AND deleted_at IS NULL AND stock >= p_quantities[i]
                RETURNING name, price INTO v_name, v_price;
                IF FOUND THEN
                    v_names := v_names || v_name;
                    v_prices := v_prices || v_price;
                    v_subtotal := v_subtotal + v_price * p_quantities[i];
                ELSIF EXISTS (SELECT 1 FROM items WHERE id = p_items[i] AND deleted_at IS NULL) THEN
                    v_short := v_short || p_items[i];
                ELSE
                    v_missing := v_missing || p_items[i];
                END IF;
            END LOOP;
            IF cardinality(v_missing) > 0 THEN
                RAISE EXCEPTION 'ITEM_NOT_FOUND' USING DETAIL = array_to_string(v_missing, ',');
            END IF;
            IF cardinality(v_short) > 0 THEN
                RAISE EXCEPTION 'INSUFFICIENT_STOCK' USING DETAIL = array_to_string(v_short, ',');
            END IF;
            IF p_coupon IS NOT NULL THEN
                SELECT uc.id, uc.used_at, c.discount_type, c.discount_value, c.valid_from, c.valid_until INTO v_held
                FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
                WHERE uc.user_id = p_user AND uc.coupon_id = p_coupon;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'COUPON_NOT_OWNED' USING DETAIL = p_user || ',' || p_coupon;
                END IF;
                IF v_held.used_at IS NOT NULL THEN
                    RAISE EXCEPTION 'COUPON_ALREADY_USED' USING DETAIL = p_coupon::text;
                END IF;
                IF p_now < v_held.valid_from OR p_now > v_held.valid_until THEN
                    RAISE EXCEPTION 'COUPON_EXPIRED' USING DETAIL = p_coupon || ',' || v_held.valid_from || ',' || v_held.valid_until;
                END IF;
                v_discount := CASE v_held.discount_type
                    WHEN 'FIXED' THEN least(v_held.discount_value, v_subtotal)
                    ELSE v_subtotal * v_held.discount_value / 100 END;
            END IF;
            v_total := v_subtotal - v_discount;
            IF v_total > 0 THEN
                UPDATE user_point SET balance = balance - v_total, updated_at = p_now
                WHERE user_id = p_user AND balance >= v_total
                RETURNING balance INTO v_balance;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'INSUFFICIENT_BALANCE' USING DETAIL =
                        v_total || ',' || p_user || ',' || coalesce((SELECT balance FROM user_point WHERE user_id = p_user), 0);
                END IF;
            ELSE
                -- A free order (a coupon covering everything) moves no points and needs no balance.
                INSERT INTO users (id, created_at) VALUES (p_user, p_now) ON CONFLICT (id) DO NOTHING;
                v_balance := coalesce((SELECT balance FROM user_point WHERE user_id = p_user), 0);
            END IF;
            INSERT INTO orders (user_id, status, subtotal, discount, total, coupon_id, balance_after, ordered_at)
            VALUES (p_user, 'PAID', v_subtotal, v_discount, v_total, p_coupon, v_balance, p_now)
            RETURNING id, txid INTO v_order, v_position;
            INSERT INTO order_items (order_id, item_id, name, quantity, unit_price, line_total)
            SELECT v_order, p_items[k], v_names[k], p_quantities[k], v_prices[k], v_prices[k] * p_quantities[k]
            FROM generate_subscripts(p_items, 1) AS k;
            IF v_total > 0 THEN
                INSERT INTO point_history (user_id, kind, amount, balance_after, order_id, created_at)
                VALUES (p_user, 'USE', -v_total, v_balance, v_order, p_now);
            END IF;
            IF p_coupon IS NOT NULL THEN
                UPDATE user_coupons SET used_at = p_now, order_id = v_order WHERE id = v_held.id AND used_at IS NULL;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'COUPON_ALREADY_USED' USING DETAIL = p_coupon::text;
                END IF;
            END IF;
            RETURN QUERY SELECT v_order, v_position, v_subtotal, v_discount, v_total, v_balance, v_names, v_prices;
        END
        $$
        """
}
