/*
 * status_cli.h - `angofs --status MOUNTPOINT [--json]`: reads the mount's
 * .status file (the daemon's own JSON report) and prints it for people.
 */
#ifndef ANGOFS_STATUS_CLI_H
#define ANGOFS_STATUS_CLI_H

/* argv[0] is "--status"; returns the process exit code. */
int ao_status_main(int argc, char **argv);

#endif
