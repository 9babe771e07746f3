-- ace-store schema, version 1. Written once for both SQL backends in the
-- PostgreSQL dialect; for SQLite the byte-string type is rewritten to
-- SQLite's binary type (the only rewrite, see `schema::sql_for`).
-- Integers are BIGINT (SQLite: INTEGER affinity, 64-bit); times are Unix
-- seconds; SPIs are BIGINT holding a u32.

-- Registered clients. `spi_as` is the SPI of the AS's inbound SA of the
-- pre-established Client-AS pair: it names the client, so it is unique.
CREATE TABLE clients (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL,
    cose_key     BYTEA,
    spi_c        BIGINT,
    spi_as       BIGINT UNIQUE,
    registration BYTEA  NOT NULL
);

-- Registered resource servers, by audience.
CREATE TABLE resource_servers (
    audience         TEXT   PRIMARY KEY,
    token_key        BYTEA  NOT NULL,
    esp_alg          TEXT   NOT NULL,
    sa_life          BIGINT NOT NULL,
    edhoc_public_key BYTEA,
    ike_public_key   BYTEA
);

-- Access policies: which scope entries a client may get for an audience.
CREATE TABLE policies (
    client_id TEXT  NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    audience  TEXT  NOT NULL REFERENCES resource_servers (audience) ON DELETE CASCADE,
    scope     BYTEA NOT NULL,
    PRIMARY KEY (client_id, audience, scope)
);

-- Every issued token. Revoked <=> revoked_at IS NOT NULL.
CREATE TABLE tokens (
    cti        BYTEA  PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    audience   TEXT   NOT NULL,
    scope      BYTEA  NOT NULL,
    issued_at  BIGINT NOT NULL,
    exp        BIGINT NOT NULL,
    method     TEXT   NOT NULL,
    spi_sa_c   BIGINT,
    spi_sa_rs  BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tokens_by_client ON tokens (client_id, issued_at);
CREATE INDEX tokens_by_audience ON tokens (audience, exp);
-- Partial: most tokens are never revoked, and cost this index nothing.
CREATE INDEX tokens_by_revocation ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- The SPI pool (draft section 2.1): an SPI_SA_C value in use at a resource
-- server. The primary key is what keeps two AS instances from handing out
-- the same SPI to the same RS.
CREATE TABLE spi_pool (
    audience    TEXT   NOT NULL,
    spi         BIGINT NOT NULL CHECK (spi BETWEEN 256 AND 4294967295),
    cti         BYTEA  NOT NULL,
    reserved_at BIGINT NOT NULL,
    PRIMARY KEY (audience, spi)
);
