-- A key that seals task secrets at rest when scaffolder.secretsKey is not
-- configured (one row, shared by every replica).
CREATE TABLE scaffolder_secrets_key (
  id INTEGER PRIMARY KEY,
  secret_key TEXT NOT NULL
);
