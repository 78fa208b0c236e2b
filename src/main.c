/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dragonfly: one binary, one subcommand table. main() only dispatches; every role parses
 * its own flags and config.
 */
#include <stdio.h>
#include <string.h>

#include "df/roles.h"

struct subcommand {
    const char *name;
    const char *summary;
    int (*fn)(int, char **);
};

static const struct subcommand subcommands[] = {
        {"cert", "create a cluster CA and issue host certificates (mutual TLS)", cli_cert_main},
        {"get", "download a URL through the local peer (dfget)", cli_get_main},
        {"peer", "the peer daemon (dfdaemon): downloads, caches and uploads pieces", peer_main},
        {"scheduler", "the scheduler: picks parents for every peer", sched_main},
        {"version", "print version, git commit and linked library versions", cli_version_main},
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: dragonfly <subcommand> [flags]\n"
               "       dragonfly <subcommand> --help\n\n"
               "P2P file and container-image distribution.\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cli_version_main(1, argv + 1);
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dragonfly: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
