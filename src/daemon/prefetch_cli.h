/*
 * prefetch_cli.h - `angofs --prefetch PATH...`: downloads the exports under
 * PATH into the daemon's cache through the mount (see prefetch_cli.c).
 * Returns the process exit status (0, 1 if some export failed, 2 on usage).
 */
#ifndef ANGOFS_PREFETCH_CLI_H
#define ANGOFS_PREFETCH_CLI_H

int ao_prefetch_main(int argc, char **argv);

#endif
