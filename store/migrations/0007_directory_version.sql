-- sweepwatch schema, version 7: a version of the device directory.
-- What the positions view and the live stream show of a device besides its
-- fix (its org, name, kind and label, the districts of its assigned areas,
-- its org's display rules) changes only with the configuration. The API
-- keeps it in memory and asks, on every request, whether it changed: that
-- question was a scan of every device (19 ms for 100,000), now it is this
-- one row, bumped by every statement that may change the answer, in that
-- statement's transaction (so a reader sees the new version exactly when it
-- sees the change). Status updates (online, status) and JT/T 808
-- authentication codes do not change the directory and do not bump it.
CREATE TABLE directory_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint  NOT NULL
);
INSERT INTO directory_version (version) VALUES (1);

-- Once per transaction: an import writes 100,000 devices and their
-- assignments a statement each, and updating one row 200,000 times in one
-- transaction walks an ever longer chain of its versions (the import took
-- minutes more). The transaction-local setting remembers the bump.
CREATE FUNCTION bump_directory_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('sweepwatch.directory_bumped', true) IS DISTINCT FROM 'yes' THEN
        UPDATE directory_version SET version = version + 1;
        PERFORM set_config('sweepwatch.directory_bumped', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_directory_rows AFTER INSERT OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER devices_directory_edits AFTER UPDATE OF org, name, kind, label ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER assignments_directory AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON assignments
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER areas_directory AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON areas
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER orgs_directory AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
