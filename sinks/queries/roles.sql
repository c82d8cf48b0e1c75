-- Access control for a ClickHouse server (not applied by `infersight db migrate`: run it once
-- as an administrator, e.g. `clickhouse-client --multiquery < sinks/queries/roles.sql`, after
-- replacing the two passwords). Database name: infersight (ClickHouseSettings.database).
--
-- chDB (the embedded default) has no users or roles: it runs as `default` with access
-- management off, and CREATE ROLE / CREATE USER fail with ACCESS_DENIED. The embedded data
-- directory is protected by file permissions instead.

-- Analysts and Grafana: read everything in the database, change nothing.
CREATE ROLE IF NOT EXISTS infersight_reader;
GRANT SELECT ON infersight.* TO infersight_reader;
-- readonly = 2 lets a session change settings (Grafana and clickhouse-connect send some)
-- but never data; the constraints keep every limit here from being raised by the analyst:
-- MAX caps what a session may set, CONST forbids changing it at all.
CREATE SETTINGS PROFILE IF NOT EXISTS infersight_analyst_profile
    SETTINGS readonly = 2 CONST,
             max_execution_time = 60 MAX 60,
             max_memory_usage = 8000000000 MAX 8000000000,
             max_threads = 8 MAX 8,
             max_result_rows = 1000000 MAX 1000000,
             max_rows_to_read = 10000000000 MAX 10000000000,
             allow_ddl = 0 CONST,
             allow_introspection_functions = 0 CONST
    TO infersight_reader;

-- The stream sink: insert results, apply migrations (DDL), refresh rollups.
CREATE ROLE IF NOT EXISTS infersight_writer;
GRANT SELECT, INSERT, CREATE TABLE, CREATE VIEW, ALTER, OPTIMIZE ON infersight.* TO infersight_writer;
GRANT CREATE DATABASE ON infersight.* TO infersight_writer;
GRANT SYSTEM VIEWS ON infersight.* TO infersight_writer;

CREATE USER IF NOT EXISTS infersight_analyst IDENTIFIED WITH sha256_password BY 'CHANGE-ME-analyst'
    DEFAULT ROLE infersight_reader DEFAULT DATABASE infersight;
GRANT infersight_reader TO infersight_analyst;

CREATE USER IF NOT EXISTS infersight_sink IDENTIFIED WITH sha256_password BY 'CHANGE-ME-sink'
    DEFAULT ROLE infersight_writer DEFAULT DATABASE infersight;
GRANT infersight_writer TO infersight_sink;
