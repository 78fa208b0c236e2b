/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dragonfly: one binary, one subcommand table. main() only dispatches; every role parses
 * its own flags and config. The names of the design card are there too: `seed` is
 * `peer --seed` (peer_main reads its argv[0]) and `dfget` is `get`.
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
        {"scheduler", "the scheduler: picks parents for every peer", sched_main},
        {"peer", "the peer daemon (dfdaemon): downloads, caches and uploads pieces", peer_main},
        {"seed", "a seed peer (peer --seed): goes back to source for the swarm", peer_main},
        {"manager", "the manager: clusters, users and roles, REST API (/api/v1)", mgr_main},
        {"up", "a one-machine cluster in one process: scheduler, seed peer and peer", cli_up_main},
        {"get", "download a URL through the local peer", cli_get_main},
        {"dfget", "the same as get", cli_get_main},
        {"cert", "create a cluster CA and issue host certificates (mutual TLS)", cli_cert_main},
        {"version", "print version, git commit and linked library versions (-V)", cli_version_main},
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: dragonfly <subcommand> [flags]\n"
               "       dragonfly <subcommand> --help   (or: dragonfly help <subcommand>)\n\n"
               "P2P file and container-image distribution.\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
}

static const struct subcommand *
subcommand_find(const char *name)
{
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(name, subcommands[i].name) == 0)
            return &subcommands[i];
    return NULL;
}

/* `dragonfly help [SUBCOMMAND]`: the list, or that subcommand's --help. */
static int
help_main(int argc, char **argv)
{
    static char help_flag[] = "--help";
    const struct subcommand *sc;
    char *sub_argv[3];

    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "dragonfly help: takes one subcommand\n");
        return 2;
    }
    if ((sc = subcommand_find(argv[1])) == NULL) {
        fprintf(stderr, "dragonfly help: unknown subcommand '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    sub_argv[0] = argv[1];
    sub_argv[1] = help_flag;
    sub_argv[2] = NULL;
    return sc->fn(2, sub_argv);
}

int
main(int argc, char **argv)
{
    const struct subcommand *sc;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0)
        return help_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cli_version_main(argc - 1, argv + 1);
    if ((sc = subcommand_find(argv[1])) != NULL)
        return sc->fn(argc - 1, argv + 1);
    fprintf(stderr, "dragonfly: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
