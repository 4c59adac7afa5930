/*  A zyre (C) node in IPv6 mode for tests/interop/test_interop_zyre_ipv6.py: beacons on the
    interface argv[1] (zsys_set_ipv6, zsys_set_interface: ff02::1, spec/zre.md#node-discovery),
    discovery port argv[2], interval 200 ms. Prints "UUID <uuid>" once started, then
    "ENTER <peer uuid> <endpoint from its HELLO> <endpoint zyre connected to>" per peer; stops on
    SIGTERM (czmq's handler sets zsys_interrupted) or after 20 s. libzyre.so ships without headers: the few
    functions used are declared here, as conformance/agents/zyre_agent.c does.  */

#include <czmq.h>

typedef struct _zyre_t zyre_t;
typedef struct _zyre_event_t zyre_event_t;
zyre_t *zyre_new (const char *name);
void zyre_destroy (zyre_t **self_p);
const char *zyre_uuid (zyre_t *self);
void zyre_set_port (zyre_t *self, int port_nbr);
void zyre_set_interval (zyre_t *self, size_t interval);
int zyre_start (zyre_t *self);
void zyre_stop (zyre_t *self);
zsock_t *zyre_socket (zyre_t *self);
zyre_event_t *zyre_event_new (zyre_t *node);
void zyre_event_destroy (zyre_event_t **self_p);
const char *zyre_event_type (zyre_event_t *self);
const char *zyre_event_peer_uuid (zyre_event_t *self);
const char *zyre_event_peer_addr (zyre_event_t *self);
char *zyre_peer_address (zyre_t *self, const char *peer);

int main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: zyre_ipv6_node INTERFACE PORT\n");
        return 2;
    }
    zsys_set_ipv6 (1);
    zsys_set_interface (argv [1]);
    zyre_t *node = zyre_new ("zyre6");
    zyre_set_port (node, atoi (argv [2]));
    zyre_set_interval (node, 200);
    if (zyre_start (node)) {
        printf ("START-FAILED\n");
        return 1;
    }
    printf ("UUID %s\n", zyre_uuid (node));
    fflush (stdout);
    zpoller_t *poller = zpoller_new (zyre_socket (node), NULL);
    int64_t until = zclock_mono () + 20000;
    while (!zsys_interrupted && zclock_mono () < until) {
        if (!zpoller_wait (poller, 100))
            continue;
        zyre_event_t *event = zyre_event_new (node);
        if (!event)
            break;
        if (streq (zyre_event_type (event), "ENTER")) {
            char *connected = zyre_peer_address (node, zyre_event_peer_uuid (event));
            printf ("ENTER %s %s %s\n", zyre_event_peer_uuid (event),
                    zyre_event_peer_addr (event), connected ? connected : "-");
            fflush (stdout);
            zstr_free (&connected);
        }
        zyre_event_destroy (&event);
    }
    zpoller_destroy (&poller);
    zyre_stop (node);
    zyre_destroy (&node);
    return 0;
}
