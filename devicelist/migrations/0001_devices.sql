-- The device list: one row per device of an account. Ids use the "C" collation
-- so that the primary key orders them bytewise, as Memory sorts them.
CREATE TABLE devices (
	account      text COLLATE "C" NOT NULL,
	id           text COLLATE "C" NOT NULL,
	platform     text NOT NULL DEFAULT '',
	name         text NOT NULL DEFAULT '',
	app_version  text NOT NULL DEFAULT '',
	capabilities text[] NOT NULL DEFAULT '{}',
	attributes   jsonb NOT NULL DEFAULT '{}',
	created      timestamptz NOT NULL,
	updated      timestamptz NOT NULL,
	last_seen    timestamptz,
	PRIMARY KEY (account, id)
);

-- Owners looks a device id up across accounts.
CREATE INDEX devices_id ON devices (id);
