# The entry points matrix-docker-ansible-deploy operators know, for this playbook's tags.
# Every recipe runs `ansible-playbook -i inventory/hosts setup.yml --tags=<tag>` from this
# directory; values are handed to Ansible in a private file, so a password with spaces or
# quotes arrives exactly as typed. Extra arguments go to ansible-playbook (e.g. --check --diff).

set positional-arguments := true
set shell := ["bash", "-euo", "pipefail", "-c"]

# Shows the recipes
default:
    @just --list --justfile {{ justfile() }}

# Registers a user: just register-user john secret-password yes   (a password of - is asked for)
# On MAS, email=john@example.org (or a comma-separated list) among the extra arguments attaches addresses.
register-user USERNAME PASSWORD ADMIN_YES_OR_NO *EXTRA_ARGS:
    @pairs=(); rest=(); for a in "${@:4}"; do case "$a" in email=*) pairs+=(email "${a#email=}") ;; *) rest+=("$a") ;; esac; done; \
     scripts/run-tag.sh register-user username "$1" password "$2" admin "$3" "${pairs[@]}" -- "${rest[@]}"

# Grants (yes) or revokes (no) admin rights: just update-user-admin john yes
update-user-admin USERNAME ADMIN_YES_OR_NO *EXTRA_ARGS:
    @scripts/run-tag.sh update-user-admin username "$1" admin "$2" -- "${@:3}"

# Sets a user's password (sessions are kept; logout_devices=yes ends them): just update-user-password alice NEW-PASSWORD
update-user-password USERNAME PASSWORD *EXTRA_ARGS:
    @pairs=(); rest=(); for a in "${@:3}"; do case "$a" in logout_devices=*) pairs+=(logout_devices "${a#logout_devices=}") ;; *) rest+=("$a") ;; esac; done; \
     scripts/run-tag.sh update-user-password username "$1" password "$2" "${pairs[@]}" -- "${rest[@]}"

# Deactivates a user (erase=yes also erases their data): just deactivate-user bob
deactivate-user USERNAME *EXTRA_ARGS:
    @pairs=(); rest=(); for a in "${@:2}"; do case "$a" in erase=*) pairs+=(erase "${a#erase=}") ;; *) rest+=("$a") ;; esac; done; \
     scripts/run-tag.sh deactivate-user username "$1" "${pairs[@]}" -- "${rest[@]}"

# Reactivates a deactivated user with a new password: just reactivate-user bob NEW-PASSWORD
reactivate-user USERNAME PASSWORD *EXTRA_ARGS:
    @scripts/run-tag.sh reactivate-user username "$1" password "$2" -- "${@:3}"

# Locks a user (they cannot log in; nothing else changes): just lock-user mallory
lock-user USERNAME *EXTRA_ARGS:
    @scripts/run-tag.sh lock-user username "$1" -- "${@:2}"

# Unlocks a user: just unlock-user mallory
unlock-user USERNAME *EXTRA_ARGS:
    @scripts/run-tag.sh unlock-user username "$1" -- "${@:2}"

# Lists the users as a table; filters as key=value: just list-users admins=yes locked=no name=ali
list-users *FILTERS_AND_EXTRA_ARGS:
    @pairs=(); rest=(); for a in "$@"; do case "$a" in admins=*|deactivated=*|locked=*|user_type=*|name=*|username=*) pairs+=("${a%%=*}" "${a#*=}") ;; *) rest+=("$a") ;; esac; done; \
     scripts/run-tag.sh list-users "${pairs[@]}" -- "${rest[@]}"

# Converges the declared users (MDAD's matrix_user_creator_users_* and matrix_user_management_users):
# just ensure-matrix-users-created --check --diff   shows the plan and changes nothing
ensure-matrix-users-created *EXTRA_ARGS:
    @scripts/run-tag.sh ensure-matrix-users-created -- "$@"

# Prints a registration link: just generate-matrix-registration-token yes 2026-12-31
generate-matrix-registration-token ONE_TIME_YES_OR_NO="no" EX_DATE="" *EXTRA_ARGS:
    @if [ -n "$2" ]; then scripts/run-tag.sh generate-matrix-registration-token one_time "$1" ex_date "$2" -- "${@:3}"; \
     else scripts/run-tag.sh generate-matrix-registration-token one_time "$1" -- "${@:3}"; fi

# Lists the registration tokens
list-matrix-registration-tokens *EXTRA_ARGS:
    @scripts/run-tag.sh list-matrix-registration-tokens -- "$@"

# Disables a registration token: just disable-matrix-registration-token TalentSpecialDenmark
disable-matrix-registration-token TOKEN *EXTRA_ARGS:
    @scripts/run-tag.sh disable-matrix-registration-token token "$1" -- "${@:2}"

# Runs the playbook with the given arguments (as MDAD's `just run`)
run +EXTRA_ARGS:
    ansible-playbook -i inventory/hosts setup.yml "$@"
