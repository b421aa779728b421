-- First start of the compose PostgreSQL: the two roles and the two databases
-- (docs/architecture/databases-and-routing.md).
-- The owner role owns the databases and runs migrations; the app role is what web/worker/beat use.
CREATE ROLE breederhq_owner LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD 'breederhq_owner';
CREATE ROLE breederhq_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'breederhq_app';
CREATE DATABASE breederhq_tenant OWNER breederhq_owner;
CREATE DATABASE breederhq_marketplace OWNER breederhq_owner;
