-- Signing keys of user tokens. private_key is the raw ECDSA scalar, base64url,
-- sealed with AES-GCM when auth.keyStore.database.secret is set ("v1:" prefix)
-- or stored as "raw:<base64url>" otherwise. created_at is unix milliseconds.
CREATE TABLE auth_signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_key TEXT NOT NULL,
  private_key TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX auth_signing_keys_created_at ON auth_signing_keys (created_at);
-- What /v1/userinfo serves: {"claims":{"sub","ent",...}} per user, written
-- whenever a token is issued (Backstage's user_info table).
CREATE TABLE auth_user_info (
  user_entity_ref TEXT PRIMARY KEY,
  user_info TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
