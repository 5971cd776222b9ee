/*
 * bench.h - "wsrelay bench": the load generator (bench.c).
 */
#ifndef WSR_BENCH_H
#define WSR_BENCH_H

/* argv[0] is "bench".  Returns the process exit status. */
int bench_main(int argc, char **argv);

#endif /* WSR_BENCH_H */
