/* The `ferry units` command line: options, the config, then units.c and install.c. */
#ifndef FERRY_UNITS_CMD_H
#define FERRY_UNITS_CMD_H

extern const char units_usage[];

/* argv[0] is "units". Returns the exit status: 0, 1 (writing failed), 2 (usage, config). */
int units_cmd(int argc, char **argv);

#endif
