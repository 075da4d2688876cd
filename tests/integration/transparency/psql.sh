#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# psql (libpq: non-blocking connect + poll) to a real PostgreSQL server by
# mesh name. The server is a private cluster in $T (initdb --auth=trust, run
# as the postgres user, listening on 127.0.0.1:BACKPORT only); the query's
# result comes back through both meshd, and both hosts record one
# connection with equal byte counts.
. "$(dirname "$0")/lib.sh"
need psql runuser
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[[ -x $PGBIN/initdb && -x $PGBIN/pg_ctl ]] ||
	die "PostgreSQL server (initdb, pg_ctl) not installed: scripts/deps.sh installs postgresql"
id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package creates it)"

standard_setup

# The cluster: data and socket directory owned by postgres, inside $T.
chmod 755 "$T"
mkdir -p "$T/pg"
chown postgres: "$T/pg"
out=$(runuser -u postgres -- "$PGBIN/initdb" -D "$T/pg/data" --auth=trust -U postgres --no-sync 2>&1) ||
	die "initdb failed: $out"
# In the foreground (pg_ctl would detach it from our process group).
spawn postgres "$T/postgres.log" runuser -u postgres -- "$PGBIN/postgres" -D "$T/pg/data" \
	-c listen_addresses=127.0.0.1 -c port="$BACKPORT" -c unix_socket_directories="$T/pg" \
	-c fsync=off -c logging_collector=off
for ((i = 0; i < 200; i++)); do
	"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$BACKPORT" && break
	sleep 0.05
done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$BACKPORT" ||
	die "postgres did not start on 127.0.0.1:$BACKPORT ($(tail -n 5 "$T/postgres.log"))"
note "$("$PGBIN/postgres" --version)"

export PGCONNECT_TIMEOUT=10 PGUSER=postgres PGDATABASE=postgres
unset PGHOST PGPORT PGPASSWORD PGSERVICE
n=$RANDOM
st=0
out=$(mesh_run psql -h hello -p "$PORT" -X -At -c "select 'mesh ' || $n + 1, inet_server_port()" 2>&1) || st=$?
check_eq "psql exits 0" 0 "$st"
check_eq "psql prints the server's answer (computed there, port $BACKPORT)" "mesh $((n + 1))|$BACKPORT" "$out"
CONN_PROGRAM=psql client_conns "$st" "psql" 1

# A table written through the mesh is there when read directly.
st=0
out=$(mesh_run psql -h hello -p "$PORT" -X -At -v ON_ERROR_STOP=1 \
	-c "create table t (v text)" -c "insert into t values ('via the mesh $n')" -c "select v from t" 2>&1) || st=$?
check_eq "psql create/insert/select exits 0" 0 "$st"
check_eq "psql prints the row it inserted" "$(printf 'CREATE TABLE\nINSERT 0 1\nvia the mesh %s' "$n")" "$out"
CONN_PROGRAM=psql client_conns "$st" "psql insert" 1
check_eq "the row is in the real server (read without the mesh)" "via the mesh $n" \
	"$(psql -h 127.0.0.1 -p "$BACKPORT" -X -At -c 'select v from t' 2>&1)"

summary
