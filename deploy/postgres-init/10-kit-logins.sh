#!/bin/sh
# The API's and the worker's two database logins (docs/tenancy.md#two-pools-two-logins), made
# when the PostgreSQL container initialises an empty data volume (docker-entrypoint-initdb.d),
# before the first migration:
#   KIT_TENANT_DB_PASSWORD  password of app_api, DATABASE_URL's login: it may assume app_tenant only
#   KIT_SYSTEM_DB_PASSWORD  password of app_api_system, DATABASE_SYSTEM_URL's: it may assume app_system
# The four NOLOGIN roles are made here with the attributes migrations 0001 and 0019 give them
# (those migrations leave a role that exists alone). A volume initialised before this script
# existed needs the SQL of docs/tenancy.md#creating-the-two-logins, run once by hand.
set -eu
: "${KIT_TENANT_DB_PASSWORD:?set KIT_TENANT_DB_PASSWORD in .env.production}"
: "${KIT_SYSTEM_DB_PASSWORD:?set KIT_SYSTEM_DB_PASSWORD in .env.production}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v tenant_password="$KIT_TENANT_DB_PASSWORD" -v system_password="$KIT_SYSTEM_DB_PASSWORD" <<'SQL'
CREATE ROLE app_tenant NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
CREATE ROLE app_system NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOINHERIT;
CREATE ROLE app_tenant_login NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
CREATE ROLE app_system_login NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
GRANT app_tenant TO app_tenant_login;
GRANT app_system TO app_system_login;
CREATE ROLE app_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT
  PASSWORD :'tenant_password';
GRANT app_tenant_login TO app_api;
CREATE ROLE app_api_system LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT
  PASSWORD :'system_password';
GRANT app_system_login TO app_api_system;
SQL
