-- Production's register database for drctl demo: people, their
-- registrations, and a day's events, the newest a minute old.
create table users (id serial primary key, email text unique not null, name text, phone text, role text not null default 'registrar');
create table registrations (id serial primary key, user_id int references users on delete cascade, national_id text, registered_at timestamptz default now());
create table events (id bigserial primary key, created_at timestamptz not null, kind text not null, user_id int);
insert into users (email, name, phone) select 'person' || g || '@example.org', 'Person ' || g, '+44 20 7946 ' || lpad(g::text, 4, '0') from generate_series(1, 5000) g;
insert into users (email, name) values ('qa.admin@example.org', 'QA Admin');
insert into registrations (user_id, national_id) select g, 'AB' || lpad(g::text, 6, '0') || 'C' from generate_series(1, 5000) g;
insert into events (created_at, kind, user_id) select now() - (g || ' minutes')::interval, (array['login','register','certify','print'])[1 + g % 4], 1 + g % 5000 from generate_series(1, 20000) g;
