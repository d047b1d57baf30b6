-- One service database with its two roles (DESIGN §1, least privilege):
--   :migrator owns the database and runs the migrations (DDL);
--   :app is what the service connects as: data rights only (SELECT/INSERT/UPDATE/DELETE).
-- Run as the PostgreSQL superuser, idempotent:
--   psql -v db=docuvault_ingest -v migrator=docuvault_ingest_migrator \
--        -v app=docuvault_ingest_app [-v migrator_password=… -v app_password=…] -f roles.sql
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN', :'migrator')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'migrator') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
\if :{?migrator_password}
ALTER ROLE :"migrator" PASSWORD :'migrator_password';
\endif
\if :{?app_password}
ALTER ROLE :"app" PASSWORD :'app_password';
\endif
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'migrator')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"migrator", :"app";

\connect :db
-- extensions need the superuser; the app roles never create them
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SELECT 'CREATE EXTENSION IF NOT EXISTS rum'
 WHERE EXISTS (SELECT FROM pg_available_extensions WHERE name = 'rum') \gexec
ALTER SCHEMA public OWNER TO :"migrator";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
