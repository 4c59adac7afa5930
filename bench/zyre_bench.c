/*  zyre C side of bench/zre_node.py: the same figures, measured on libzyre 2.x.

    Built by bench/zre_node.py (build_zyre_driver) against the prebuilt libzyre.so that
    tests/interop/setup-zyre.sh puts into .interop-zyre/lib, with Debian's libczmq.
    Each mode prints one JSON object on stdout:

        zyre_bench enter ROUNDS PORT           start -> ENTER seen by a running node (median s)
        zyre_bench shout RECEIVERS MSGS PORT   one node SHOUTs 64 B to RECEIVERS peers in group G
        zyre_bench mesh NODES IDLE_S PORT      NODES nodes in one process: time to a full mesh,
                                               then RSS and CPU per node over IDLE_S idle seconds
        zyre_bench whisper-echo PORT           answer every WHISPER with the same bytes
        zyre_bench whisper-ping ROUNDS PORT    WHISPER 64 B to the echo process, wait the answer

    Beacons go on the interface ZSYS_INTERFACE names (the caller runs it in a lo-only namespace
    with ZSYS_INTERFACE=lo and a multicast beacon address, as the interop runner does).
*/

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

//  The part of zyre's public API (zyre 2.x) used here; the prebuilt library ships no header.
typedef struct _zyre_t zyre_t;
zyre_t *zyre_new (const char *name);
void zyre_destroy (zyre_t **self_p);
void zyre_set_port (zyre_t *self, int port_nbr);
void zyre_set_interval (zyre_t *self, size_t interval);
int zyre_start (zyre_t *self);
int zyre_join (zyre_t *self, const char *group);
int zyre_shout (zyre_t *self, const char *group, zmsg_t **msg_p);
int zyre_whisper (zyre_t *self, const char *peer, zmsg_t **msg_p);
zsock_t *zyre_socket (zyre_t *self);

static int port_nbr = 0;
static char payload [64];

static double now_s (void)
{
    return zclock_usecs () / 1e6;
}

static double cpu_s (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long rss_kb (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line [256];
    long kb = 0;
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kb = atol (line + 6);
    if (f)
        fclose (f);
    return kb;
}

static zyre_t *node_new (const char *name)
{
    zyre_t *node = zyre_new (name);
    zyre_set_port (node, port_nbr);
    zyre_set_interval (node, 1000);
    return node;
}

static void fail (const char *what)
{
    fprintf (stderr, "zyre_bench: timeout waiting for %s\n", what);
    exit (2);
}

//  Next event of `node` whose type is `type` (other events dropped); its frames in *msg_p
static void wait_event (zyre_t *node, const char *type, int timeout_ms, zmsg_t **msg_p)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (zyre_socket (node), NULL);
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            fail (type);
        zmsg_t *msg = zmsg_recv (zyre_socket (node));
        char *got = zmsg_popstr (msg);
        bool match = got && streq (got, type);
        free (got);
        if (match && msg_p) {
            *msg_p = msg;
            break;
        }
        zmsg_destroy (&msg);
        if (match)
            break;
    }
    zpoller_destroy (&poller);
}

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void enter (int rounds)
{
    zyre_t *a = node_new ("a");
    zyre_start (a);
    double *samples = calloc ((size_t) rounds, sizeof (double));
    for (int i = 0; i < rounds; i++) {
        zyre_t *b = node_new ("b");
        double t0 = now_s ();
        zyre_start (b);
        wait_event (a, "ENTER", 10000, NULL);
        samples [i] = now_s () - t0;
        zyre_destroy (&b);   //  a sees its EXIT later (dropped): each b has a new UUID
    }
    qsort (samples, (size_t) rounds, sizeof (double), cmp_double);
    printf ("{\"enter\": %.6f}\n", samples [rounds / 2]);
    free (samples);
    zyre_destroy (&a);
}

//  Receive every waiting message of `node` without blocking; count the SHOUTs
static long drain_shouts (zyre_t *node)
{
    long count = 0;
    zsock_t *sock = zyre_socket (node);
    while (zsock_events (sock) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (sock);
        zframe_t *type = zmsg_first (msg);
        if (type && zframe_streq (type, "SHOUT"))
            count++;
        zmsg_destroy (&msg);
    }
    return count;
}

static void shout (int receivers, long messages)
{
    zyre_t *sender = node_new ("s");
    zyre_start (sender);
    zyre_t **rx = calloc ((size_t) receivers, sizeof (zyre_t *));
    for (int i = 0; i < receivers; i++) {
        char name [16];
        snprintf (name, sizeof name, "r%d", i);
        rx [i] = node_new (name);
        zyre_join (rx [i], "G");
        zyre_start (rx [i]);
    }
    for (int i = 0; i < receivers; i++)
        wait_event (sender, "JOIN", 30000, NULL);
    for (int i = 0; i < receivers; i++)
        while (drain_shouts (rx [i]))
            ;   //  drop their ENTER/JOIN events
    zmq_pollitem_t *items = calloc ((size_t) receivers, sizeof (zmq_pollitem_t));
    for (int i = 0; i < receivers; i++)
        items [i] = (zmq_pollitem_t) {zsock_resolve (zyre_socket (rx [i])), 0, ZMQ_POLLIN, 0};
    double t0 = now_s (), c0 = cpu_s ();
    long got = 0, sent = 0, want = receivers * messages;
    //  Send in batches of 100 and read between them, as the pyre and zre_ref runs do
    while (got < want) {
        for (int k = 0; k < 100 && sent < messages; k++, sent++) {
            zmsg_t *msg = zmsg_new ();
            zmsg_addmem (msg, payload, sizeof payload);
            zyre_shout (sender, "G", &msg);
        }
        if (zmq_poll (items, receivers, sent < messages ? 0 : 10000) <= 0 && sent >= messages)
            break;
        for (int i = 0; i < receivers; i++)
            got += drain_shouts (rx [i]);
    }
    double dt = now_s () - t0, cpu = cpu_s () - c0;
    printf ("{\"deliveries_per_s\": %.1f, \"cpu_us\": %.3f, \"delivered\": %ld, \"wanted\": %ld}\n",
            got / dt, 1e6 * cpu / (got ? got : 1), got, want);
    for (int i = 0; i < receivers; i++)
        zyre_destroy (&rx [i]);
    zyre_destroy (&sender);
    free (rx);
    free (items);
}

static void mesh (int count, double idle)
{
    long rss0 = rss_kb ();
    zyre_t **nodes = calloc ((size_t) count, sizeof (zyre_t *));
    double t0 = now_s ();
    for (int i = 0; i < count; i++) {
        char name [16];
        snprintf (name, sizeof name, "m%d", i);
        nodes [i] = node_new (name);
        zyre_start (nodes [i]);
    }
    for (int i = 0; i < count; i++)
        for (int k = 0; k < count - 1; k++)
            wait_event (nodes [i], "ENTER", 60000, NULL);
    double formed = now_s () - t0;
    long rss1 = rss_kb ();
    //  Idle: read (and drop) whatever the nodes report, as an application would
    zmq_pollitem_t *items = calloc ((size_t) count, sizeof (zmq_pollitem_t));
    for (int i = 0; i < count; i++)
        items [i] = (zmq_pollitem_t) {zsock_resolve (zyre_socket (nodes [i])), 0, ZMQ_POLLIN, 0};
    double c0 = cpu_s (), w0 = now_s ();
    while (now_s () - w0 < idle) {
        zmq_poll (items, count, 100);
        for (int i = 0; i < count; i++)
            drain_shouts (nodes [i]);
    }
    double cpu = (cpu_s () - c0) / (now_s () - w0);
    printf ("{\"mesh_s\": %.3f, \"rss_kb_per_node\": %.1f, \"cpu_pct_per_node\": %.4f}\n",
            formed, (double) (rss1 - rss0) / count, 100 * cpu / count);
    for (int i = 0; i < count; i++)
        zyre_destroy (&nodes [i]);
    free (nodes);
    free (items);
}

//  The peer's UUID from the ENTER event of `node`
static char *wait_enter (zyre_t *node)
{
    zmsg_t *msg = NULL;
    wait_event (node, "ENTER", 30000, &msg);
    char *uuid = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    return uuid;
}

static void whisper_echo (void)
{
    zyre_t *node = node_new ("echo");
    zyre_start (node);
    char *peer = wait_enter (node);
    printf ("{\"ready\": true}\n");
    fflush (stdout);
    while (true) {
        zmsg_t *msg = NULL;
        wait_event (node, "WHISPER", 120000, &msg);
        free (zmsg_popstr (msg));   //  peer uuid
        free (zmsg_popstr (msg));   //  peer name
        zyre_whisper (node, peer, &msg);
    }
}

static void whisper_ping (int rounds)
{
    zyre_t *node = node_new ("ping");
    zyre_start (node);
    char *peer = wait_enter (node);
    zclock_sleep (200);   //  let the echo side see our HELLO too (its ENTER)
    double *samples = calloc ((size_t) rounds, sizeof (double));
    for (int i = -10; i < rounds; i++) {   //  10 warm-up rounds
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, payload, sizeof payload);
        double t0 = now_s ();
        zyre_whisper (node, peer, &msg);
        wait_event (node, "WHISPER", 10000, NULL);
        if (i >= 0)
            samples [i] = now_s () - t0;
    }
    qsort (samples, (size_t) rounds, sizeof (double), cmp_double);
    printf ("{\"whisper_rtt\": %.7f}\n", samples [rounds / 2]);
    free (samples);
    free (peer);
    zyre_destroy (&node);
}

int main (int argc, char *argv [])
{
    memset (payload, 'x', sizeof payload);
    if (argc < 3) {
        fprintf (stderr, "usage: see the comment at the top of zyre_bench.c\n");
        return 1;
    }
    const char *mode = argv [1];
    port_nbr = atoi (argv [argc - 1]);
    if (streq (mode, "enter") && argc == 4)
        enter (atoi (argv [2]));
    else
    if (streq (mode, "shout") && argc == 5)
        shout (atoi (argv [2]), atol (argv [3]));
    else
    if (streq (mode, "mesh") && argc == 5)
        mesh (atoi (argv [2]), atof (argv [3]));
    else
    if (streq (mode, "whisper-echo") && argc == 3)
        whisper_echo ();
    else
    if (streq (mode, "whisper-ping") && argc == 4)
        whisper_ping (atoi (argv [2]));
    else {
        fprintf (stderr, "zyre_bench: bad arguments\n");
        return 1;
    }
    return 0;
}
