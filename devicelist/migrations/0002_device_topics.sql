-- Persistent topic subscriptions: the topics a backend subscribed a device to
-- (PUT /v1/accounts/{account}/devices/{device}/topics/{topic}), applied by the
-- edge when the device connects. A device's rows go with the device.
CREATE TABLE device_topics (
	account text COLLATE "C" NOT NULL,
	device  text COLLATE "C" NOT NULL,
	topic   text COLLATE "C" NOT NULL,
	created timestamptz NOT NULL,
	PRIMARY KEY (account, device, topic),
	FOREIGN KEY (account, device) REFERENCES devices (account, id) ON DELETE CASCADE
);
