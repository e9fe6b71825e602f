-- A settled validation cascades in the statement that records it: the
-- challenge's authorization takes its status, an invalid authorization
-- invalidates its open orders, and an order whose authorizations are all
-- valid becomes ready. One statement instead of a four-statement
-- transaction (four network round trips).
CREATE FUNCTION acme_challenge_settles() RETURNS trigger AS $$
BEGIN
    UPDATE acme_authzs SET status = NEW.status WHERE id = NEW.authz_id AND status = 'pending';
    IF NEW.status = 'invalid' THEN
        UPDATE acme_orders SET status = 'invalid', error = NEW.error
        WHERE status IN ('pending', 'ready')
          AND id IN (SELECT order_id FROM acme_order_authzs WHERE authz_id = NEW.authz_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER acme_challenge_settles AFTER UPDATE OF status ON acme_challenges
    FOR EACH ROW WHEN (OLD.status = 'processing' AND NEW.status IN ('valid', 'invalid'))
    EXECUTE FUNCTION acme_challenge_settles();

-- Two authorizations of one order may turn valid at once on two replicas.
-- Each would miss the other's uncommitted update and leave the order
-- pending, so the order rows are locked first: the second waits for the
-- first to commit, and its next statement (a new snapshot) sees both.
CREATE FUNCTION acme_authz_valid_readies_orders() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM acme_orders
    WHERE id IN (SELECT order_id FROM acme_order_authzs WHERE authz_id = NEW.id)
    ORDER BY id FOR UPDATE;
    UPDATE acme_orders SET status = 'ready' WHERE status = 'pending'
      AND id IN (SELECT order_id FROM acme_order_authzs WHERE authz_id = NEW.id)
      AND NOT EXISTS (SELECT 1 FROM acme_order_authzs oa JOIN acme_authzs a ON a.id = oa.authz_id
                      WHERE oa.order_id = acme_orders.id AND a.status <> 'valid');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER acme_authz_valid_readies_orders AFTER UPDATE OF status ON acme_authzs
    FOR EACH ROW WHEN (NEW.status = 'valid' AND OLD.status <> 'valid')
    EXECUTE FUNCTION acme_authz_valid_readies_orders();
