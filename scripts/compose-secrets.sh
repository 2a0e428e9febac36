#!/usr/bin/env bash
# Write the secrets docker-compose.yml reads (./secrets/ by default), each a random value in a
# file of mode 0600. Existing files are kept: running it again changes nothing.
set -euo pipefail
dir="${1:-secrets}"
mkdir -p "$dir" && chmod 0700 "$dir"
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
put() {  # put NAME VALUE: write once
  [ -e "$dir/$1" ] && return 0
  (umask 077 && printf '%s\n' "$2" > "$dir/$1")
}
put secret_key "$(rand)"
put mariadb_root_password "$(rand)"
put mariadb_password "$(rand)"
put rabbitmq_password "$(rand)"
db_pw="$(cat "$dir/mariadb_password")"
mq_pw="$(cat "$dir/rabbitmq_password")"
put database_url "mysql://custos:${db_pw}@mariadb:3306/custos"
put broker_url "amqp://custos:${mq_pw}@rabbitmq:5672//"
put rabbitmq.conf "default_user = custos
default_pass = ${mq_pw}
loopback_users = none"
echo "secrets in $dir/ (keep them out of version control)"
