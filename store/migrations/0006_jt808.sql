-- sweepwatch schema, version 6: JT/T 808 terminals (issue 16).
-- A vehicle terminal is a device named by its phone number (the BCD number in
-- every JT/T 808 header, leading zeros dropped), as an OwnTracks phone is
-- named by owntracks_id. The authentication code is what the platform gave the
-- terminal in its registration response (0x8100): random, made once per
-- terminal and kept, so a terminal that registers again gets the same code and
-- one that skips registration after a reconnect still authenticates.
ALTER TABLE devices ADD COLUMN jt808_phone text UNIQUE;
ALTER TABLE devices ADD COLUMN jt808_auth_code text;
