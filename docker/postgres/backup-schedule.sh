#!/bin/sh
# The pgbackrest service: create the stanza (idempotent), check that archiving works, then a full
# backup on Sundays and a differential one on other days, at about 02:00 UTC. The first backup of
# a stanza is always full (pgBackRest makes a diff without a full into a full).
set -u
STANZA=breederhq
# The server's socket folder (the postgres-socket volume; PGHOST elsewhere, as in the tests).
until pg_isready -h "${PGHOST:-/var/run/postgresql}" -q; do sleep 2; done
pgbackrest --stanza=$STANZA stanza-create || exit 1
# `check` forces a WAL switch and waits for the segment to reach the repository: a broken
# archive_command fails here, loudly, instead of leaving a gap in the recovery window.
pgbackrest --stanza=$STANZA check || exit 1
while true; do
    type=diff
    [ "$(date -u +%u)" = 7 ] && type=full
    if ! pgbackrest --stanza=$STANZA --type=$type backup; then
        echo "pgbackrest $type backup FAILED; see /var/log/pgbackrest" >&2
    fi
    pgbackrest --stanza=$STANZA info
    hour=$(date -u +%H | sed 's/^0//')
    sleep $(( ((25 - hour) % 24 + 1) * 3600 ))
done
