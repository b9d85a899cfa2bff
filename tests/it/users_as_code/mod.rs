//! Users as code (issue 20): the tags `ensure-matrix-users-created` and `ensure-users-created`,
//! run from a checkout against inventories shaped like matrix-docker-ansible-deploy's (MDAD):
//! its `matrix_user_creator_users_auto` (computed from its bots' settings as MDAD's group_vars
//! compute it, or set as a list) and `matrix_user_creator_users_additional`, plus this role's
//! `matrix_user_management_users`. Every run is checked on the server itself: its admin API (or
//! database), logins, and its request log.

mod dendrite;
mod mas;
mod synapse;
