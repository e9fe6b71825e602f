-- A settled validation cascades in the statement that records it: the
-- challenge's authorization takes its status, an invalid authorization
-- invalidates its open orders, and an order whose authorizations are all
-- valid becomes ready. One statement instead of a four-statement
-- transaction, and no way to record a result without its consequences.
CREATE TRIGGER acme_challenge_settles AFTER UPDATE OF status ON acme_challenges
WHEN OLD.status = 'processing' AND NEW.status IN ('valid', 'invalid')
BEGIN
    UPDATE acme_authzs SET status = NEW.status WHERE id = NEW.authz_id AND status = 'pending';
    UPDATE acme_orders SET status = 'invalid', error = NEW.error
    WHERE NEW.status = 'invalid' AND status IN ('pending', 'ready')
      AND id IN (SELECT order_id FROM acme_order_authzs WHERE authz_id = NEW.authz_id);
END;

CREATE TRIGGER acme_authz_valid_readies_orders AFTER UPDATE OF status ON acme_authzs
WHEN NEW.status = 'valid' AND OLD.status <> 'valid'
BEGIN
    UPDATE acme_orders SET status = 'ready' WHERE status = 'pending'
      AND id IN (SELECT order_id FROM acme_order_authzs WHERE authz_id = NEW.id)
      AND NOT EXISTS (SELECT 1 FROM acme_order_authzs oa JOIN acme_authzs a ON a.id = oa.authz_id
                      WHERE oa.order_id = acme_orders.id AND a.status <> 'valid');
END;
