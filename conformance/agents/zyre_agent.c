/*  zre-conformance agent for zyre (C, libzyre 2.x), agent protocol v1 (spec/conformance.md).

    Build against an installed libzyre (see README.md in this directory):
        cc -O2 -o zyre_agent zyre_agent.c $(pkg-config --cflags --libs libzyre libczmq libzmq jansson) \
           -ldl -Wl,--export-dynamic-symbol=zcert_new_from
    (the last flag exports the key-pair shim below; only a libzyre built with NDEBUG needs it)
    or, as zre-ref's interop CI does, against the prebuilt libzyre.so of PyPI pyzyre 0.0a28:
        tests/interop/setup-zyre.sh .interop-zyre     (builds .interop-zyre/zyre_agent)
    Run:
        zre-conformance run --agent ./zyre_agent --netns --expectations conformance/expectations/zyre-c.txt

    Commands arrive as JSON lines on stdin; replies and events leave as JSON lines on stdout;
    logs go to stderr. One zyre node at a time; `stop` destroys it, `start` makes a new one.
    zyre beacons on ZSYS_INTERFACE; inside the runner's lo-only namespace the agent sets
    ZSYS_INTERFACE=* and ZSYS_IPV4_MCAST_ADDRESS=225.25.25.25 (spec/deviations.md#one-host).
*/

#if !defined (ZYRE_AGENT_OWN_DECLS) && __has_include (<zyre.h>)
#include <zyre.h>
#else
//  No zyre.h (e.g. a prebuilt libzyre.so without headers, see tests/interop/setup-zyre.sh):
//  declare the part of zyre's public API (zyre 2.x) that this agent calls.
#include <czmq.h>
typedef struct _zyre_t zyre_t;
typedef struct _zyre_event_t zyre_event_t;
zyre_t *zyre_new (const char *name);
void zyre_destroy (zyre_t **self_p);
const char *zyre_uuid (zyre_t *self);
void zyre_set_header (zyre_t *self, const char *name, const char *format, ...);
void zyre_set_port (zyre_t *self, int port_nbr);
void zyre_set_interval (zyre_t *self, size_t interval);
void zyre_set_evasive_timeout (zyre_t *self, int interval);
void zyre_set_expired_timeout (zyre_t *self, int interval);
int zyre_start (zyre_t *self);
void zyre_set_contest_in_group (zyre_t *self, char *group);   //  draft API, exported by 2.0.1
int zyre_set_endpoint (zyre_t *self, const char *format, ...);
void zyre_gossip_bind (zyre_t *self, const char *format, ...);
void zyre_gossip_connect (zyre_t *self, const char *format, ...);
void zyre_stop (zyre_t *self);
int zyre_join (zyre_t *self, const char *group);
int zyre_leave (zyre_t *self, const char *group);
int zyre_whisper (zyre_t *self, const char *peer, zmsg_t **msg_p);
int zyre_shout (zyre_t *self, const char *group, zmsg_t **msg_p);
zlist_t *zyre_peers (zyre_t *self);
zsock_t *zyre_socket (zyre_t *self);
zyre_event_t *zyre_event_new (zyre_t *node);
void zyre_event_destroy (zyre_event_t **self_p);
const char *zyre_event_type (zyre_event_t *self);
const char *zyre_event_peer_uuid (zyre_event_t *self);
const char *zyre_event_peer_name (zyre_event_t *self);
const char *zyre_event_peer_addr (zyre_event_t *self);
zhash_t *zyre_event_headers (zyre_event_t *self);
const char *zyre_event_group (zyre_event_t *self);
zmsg_t *zyre_event_get_msg (zyre_event_t *self);
uint64_t zyre_version (void);         //  major * 10000 + minor * 100 + patch
#endif
//  zyre_set_zcert is zyre's draft API (CURVE); declared here in case zyre.h hides it
void zyre_set_zcert (zyre_t *self, zcert_t *zcert);

#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

//  A TCP port nobody listens on now (loopback), or 0
static int free_tcp_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof (addr);
    int port = 0;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

static zyre_t *node = NULL;
static zpoller_t *poller = NULL;

/*  The key-pair shim (spec/zre.md#curve-mode-zyre). zyre builds the certificate for its ROUTER
    (zyre_node_start) and for each DEALER (zyre_peer_connect) from two 32-byte arrays that start
    zeroed and are filled by zmq_z85_decode inside assert(): in a libzyre built with NDEBUG (the
    prebuilt one under test) the decoding is compiled out and zcert_new_from receives 32 zero
    bytes for both keys. libzyre calls zcert_new_from through its PLT, so this definition, exported
    from the executable (setup: -Wl,--export-dynamic-symbol=zcert_new_from), is the one it binds
    to. When both keys are all zero and the agent holds a key pair from `start`, that key pair is
    used instead; every other call goes unchanged to libczmq's zcert_new_from. Nothing else in
    zyre's behaviour is touched. ZRE_ZYRE_NO_KEY_FIX=1 turns the substitution off (the defect as
    shipped, pinned by tests/interop/test_interop_zyre_c_curve.py).                              */
static byte own_public [32], own_secret [32];
static bool own_keys = false;           //  set by `start` with a `curve` object
static int key_fixes = 0;               //  substitutions made (logged, first one only)

static bool all_zero (const byte *key)
{
    byte any = 0;
    for (int i = 0; i < 32; i++)
        any |= key [i];
    return any == 0;
}

static void forget_keys (void)
{
    memset (own_public, 0, 32);
    memset (own_secret, 0, 32);
    own_keys = false;
}

static bool key_fix_enabled (void)
{
    const char *off = getenv ("ZRE_ZYRE_NO_KEY_FIX");
    return !(off && streq (off, "1"));
}

//  libczmq's zcert_new_from, looked up once in main before any zyre call
typedef zcert_t *(*new_from_fn) (const byte *, const byte *);
static new_from_fn czmq_new_from = NULL;

zcert_t *zcert_new_from (const byte *public_key, const byte *secret_key)
{
    if (own_keys && key_fix_enabled () && all_zero (public_key) && all_zero (secret_key)) {
        if (key_fixes++ == 0)
            fprintf (stderr, "zyre-agent: zyre passed an all-zero key pair to zcert_new_from "
                             "(NDEBUG build); using the key pair from `start`\n");
        return czmq_new_from (own_public, own_secret);
    }
    return czmq_new_from (public_key, secret_key);
}

static void emit (json_t *obj)
{
    char *text = json_dumps (obj, JSON_COMPACT);
    fprintf (stdout, "%s\n", text);
    fflush (stdout);
    free (text);
    json_decref (obj);
}

static void reply_ok (json_int_t id, json_t *extra)
{
    json_t *obj = extra ? extra : json_object ();
    json_object_set_new (obj, "id", json_integer (id));
    json_object_set_new (obj, "ok", json_true ());
    emit (obj);
}

//  With unsupported, error names the argument that cannot be done ("cmd" for the command itself)
static void reply_err (json_int_t id, const char *error, bool unsupported)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "id", json_integer (id));
    json_object_set_new (obj, "ok", json_false ());
    if (unsupported) {
        json_object_set_new (obj, "unsupported", json_true ());
        if (error)
            json_object_set_new (obj, "argument", json_string (error));
    }
    else
        json_object_set_new (obj, "error", json_string (error));
    emit (obj);
}

static char *hex_of (zframe_t *frame)
{
    size_t size = zframe_size (frame);
    char *out = (char *) malloc (2 * size + 1);
    const byte *data = zframe_data (frame);
    for (size_t i = 0; i < size; i++)
        sprintf (out + 2 * i, "%02x", data [i]);
    out [2 * size] = 0;
    return out;
}

static zmsg_t *content_of (json_t *content)
{
    zmsg_t *msg = zmsg_new ();
    size_t index;
    json_t *item;
    json_array_foreach (content, index, item) {
        const char *hex = json_string_value (item);
        size_t len = hex ? strlen (hex) / 2 : 0;
        byte *buf = (byte *) malloc (len + 1);
        for (size_t i = 0; i < len; i++) {
            unsigned int b;
            sscanf (hex + 2 * i, "%2x", &b);
            buf [i] = (byte) b;
        }
        zmsg_addmem (msg, buf, len);
        free (buf);
    }
    return msg;
}

//  Forward one zyre event as an agent protocol event; returns its type (static string or NULL)
static const char *forward_event (void)
{
    zyre_event_t *event = zyre_event_new (node);
    if (!event)
        return NULL;
    const char *type = zyre_event_type (event);
    json_t *obj = json_object ();
    json_object_set_new (obj, "event", json_string (type));
    json_object_set_new (obj, "peer", json_string (zyre_event_peer_uuid (event)));
    json_object_set_new (obj, "name", json_string (zyre_event_peer_name (event)));
    if (streq (type, "ENTER")) {
        json_t *headers = json_object ();
        zhash_t *h = zyre_event_headers (event);
        if (h) {
            for (const char *value = (const char *) zhash_first (h); value;
                 value = (const char *) zhash_next (h))
                json_object_set_new (headers, zhash_cursor (h), json_string (value));
        }
        json_object_set_new (obj, "headers", headers);
        const char *addr = zyre_event_peer_addr (event);
        json_object_set_new (obj, "endpoint", json_string (addr ? addr : ""));
    }
    if (streq (type, "JOIN") || streq (type, "LEAVE") || streq (type, "SHOUT")
    ||  streq (type, "LEADER"))
        json_object_set_new (obj, "group", json_string (zyre_event_group (event)));
    if (streq (type, "SHOUT") || streq (type, "WHISPER")) {
        json_t *content = json_array ();
        zmsg_t *msg = zyre_event_get_msg (event);
        for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg)) {
            char *hex = hex_of (f);
            json_array_append_new (content, json_string (hex));
            free (hex);
        }
        zmsg_destroy (&msg);
        json_object_set_new (obj, "content", content);
    }
    const char *known = streq (type, "STOP")? "STOP": "";
    emit (obj);
    zyre_event_destroy (&event);
    return known;
}

static void cmd_start (json_int_t id, json_t *msg)
{
    if (node) {
        reply_err (id, "already started", false);
        return;
    }
    json_t *beacon = json_object_get (msg, "beacon");
    json_t *gossip = json_object_get (msg, "gossip");
    if (!json_is_object (beacon) && !json_is_object (gossip)) {
        reply_err (id, "beacon", true);
        return;
    }
    node = zyre_new (json_string_value (json_object_get (msg, "name")));
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (msg, "headers"), key, value)
        zyre_set_header (node, key, "%s", json_string_value (value));
    json_t *curve = json_object_get (msg, "curve");
    if (json_is_object (curve)) {
        //  CURVE mode (zyre_set_zcert): {"public": Z85, "secret": Z85}
        const char *pub_txt = json_string_value (json_object_get (curve, "public"));
        const char *sec_txt = json_string_value (json_object_get (curve, "secret"));
        byte pub [32], sec [32];
        if (!pub_txt || !sec_txt || strlen (pub_txt) != 40 || strlen (sec_txt) != 40
        ||  !zmq_z85_decode (pub, pub_txt) || !zmq_z85_decode (sec, sec_txt)) {
            zyre_destroy (&node);
            reply_err (id, "curve", false);
            return;
        }
        memcpy (own_public, pub, 32);
        memcpy (own_secret, sec, 32);
        own_keys = true;
        zcert_t *cert = zcert_new_from (pub, sec);
        zyre_set_zcert (node, cert);
        zcert_destroy (&cert);
    }
    char endpoint [64] = "tcp://127.0.0.1:0";
    if (json_is_object (gossip)) {
        //  zyre in gossip mode advertises tcp://<hostname>:<port> unless given an endpoint; it
        //  turns beacons off itself (spec/zgossip.md#how-zyre-uses-it)
        snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", free_tcp_port ());
        zyre_set_endpoint (node, "%s", endpoint);
        json_t *bind = json_object_get (gossip, "bind");
        if (json_is_string (bind))
            zyre_gossip_bind (node, "%s", json_string_value (bind));
        size_t i;
        json_t *remote;
        json_array_foreach (json_object_get (gossip, "connect"), i, remote)
            zyre_gossip_connect (node, "%s", json_string_value (remote));
    }
    else {
        zyre_set_port (node, (int) json_integer_value (json_object_get (beacon, "port")));
        json_t *interval = json_object_get (beacon, "interval_ms");
        if (json_is_integer (interval))
            zyre_set_interval (node, (size_t) json_integer_value (interval));
    }
    if (json_is_integer (json_object_get (msg, "evasive_ms")))
        zyre_set_evasive_timeout (node, (int) json_integer_value (json_object_get (msg, "evasive_ms")));
    if (json_is_integer (json_object_get (msg, "expired_ms")))
        zyre_set_expired_timeout (node, (int) json_integer_value (json_object_get (msg, "expired_ms")));
    size_t index;
    json_t *group;
    json_array_foreach (json_object_get (msg, "contest"), index, group)
        zyre_set_contest_in_group (node, (char *) json_string_value (group));
    json_array_foreach (json_object_get (msg, "groups"), index, group)
        zyre_join (node, json_string_value (group));
    if (zyre_start (node)) {
        zyre_destroy (&node);
        forget_keys ();
        reply_err (id, "zyre_start failed (no beacon interface? see README)", false);
        return;
    }
    zpoller_add (poller, zyre_socket (node));
    json_t *out = json_object ();
    json_object_set_new (out, "uuid", json_string (zyre_uuid (node)));
    //  zyre's API has no getter for its own endpoint: port 0 tells the runner to take it from
    //  the node's first beacon (spec/conformance.md#start); in gossip mode we set it ourselves
    json_object_set_new (out, "endpoint", json_string (endpoint));
    reply_ok (id, out);
}

static void cmd_stop (json_int_t id)
{
    if (node) {
        zpoller_remove (poller, zyre_socket (node));
        zyre_stop (node);
        //  forward events until STOP so that it reaches the runner before the reply
        zpoller_t *p = zpoller_new (zyre_socket (node), NULL);
        while (zpoller_wait (p, 1000)) {
            const char *type = forward_event ();
            if (!type || streq (type, "STOP"))
                break;
        }
        zpoller_destroy (&p);
        zyre_destroy (&node);
        forget_keys ();
    }
    reply_ok (id, NULL);
}

static void handle_line (const char *line)
{
    json_error_t error;
    json_t *msg = json_loads (line, 0, &error);
    if (!json_is_object (msg)) {
        fprintf (stderr, "zyre-agent: not a JSON object: %s\n", line);
        json_decref (msg);
        return;
    }
    json_int_t id = json_integer_value (json_object_get (msg, "id"));
    const char *cmd = json_string_value (json_object_get (msg, "cmd"));
    if (!cmd)
        reply_err (id, "no cmd", false);
    else
    if (streq (cmd, "hello")) {
        uint64_t v = zyre_version ();
        char version [64];
        snprintf (version, sizeof (version), "%d.%d.%d", (int) (v / 10000), (int) (v / 100 % 100),
                  (int) (v % 100));
        json_t *out = json_pack (
            "{s:s, s:s, s:i, s:[s], s:[s,s,s,s,s,s,s,s,s,s,s], s:{s:i, s:i, s:i, s:i}}",
            "implementation", "zyre", "version", version, "protocol", 1, "protocols", "zre/2",
            "capabilities", "beacon", "beacon-interval", "beacon-stop", "timers", "headers",
            "peers", "evasive-events", "stop-event", "election", "gossip", "curve",
            "timers", "evasive_ms", 5000, "expired_ms", 30000, "beacon_interval_ms", 1000,
            "reap_interval_ms", 1000);
        reply_ok (id, out);
    }
    else
    if (streq (cmd, "start"))
        cmd_start (id, msg);
    else
    if (!node)
        reply_err (id, "not started", false);
    else
    if (streq (cmd, "join")) {
        zyre_join (node, json_string_value (json_object_get (msg, "group")));
        reply_ok (id, NULL);
    }
    else
    if (streq (cmd, "leave")) {
        zyre_leave (node, json_string_value (json_object_get (msg, "group")));
        reply_ok (id, NULL);
    }
    else
    if ((streq (cmd, "shout") || streq (cmd, "whisper"))
    &&  json_array_size (json_object_get (msg, "content")) == 0)
        //  zyre's API cannot send a SHOUT/WHISPER without content frames (zyre_shout with an
        //  empty zmsg puts nothing on the wire)
        reply_err (id, "content", true);
    else
    if (streq (cmd, "shout")) {
        zmsg_t *content = content_of (json_object_get (msg, "content"));
        zyre_shout (node, json_string_value (json_object_get (msg, "group")), &content);
        reply_ok (id, NULL);
    }
    else
    if (streq (cmd, "whisper")) {
        zmsg_t *content = content_of (json_object_get (msg, "content"));
        zyre_whisper (node, json_string_value (json_object_get (msg, "peer")), &content);
        reply_ok (id, NULL);
    }
    else
    if (streq (cmd, "peers")) {
        json_t *list = json_array ();
        zlist_t *peers = zyre_peers (node);
        for (char *p = (char *) zlist_first (peers); p; p = (char *) zlist_next (peers))
            json_array_append_new (list, json_pack ("{s:s}", "peer", p));
        zlist_destroy (&peers);
        reply_ok (id, json_pack ("{s:o}", "peers", list));
    }
    else
    if (streq (cmd, "stop"))
        cmd_stop (id);
    else
        reply_err (id, "cmd", true);
    json_decref (msg);
}

int main (void)
{
    czmq_new_from = (new_from_fn) dlsym (RTLD_NEXT, "zcert_new_from");
    if (!czmq_new_from) {
        fprintf (stderr, "zyre-agent: libczmq's zcert_new_from not found: %s\n", dlerror ());
        return 1;
    }
    //  czmq reads both variables in zsys_init; the environment is used rather than the setters
    //  because zsys_set_ipv4_mcast_address is a czmq draft API that Debian's libczmq4 does not export
    setenv ("ZSYS_INTERFACE", "*", 0);
    setenv ("ZSYS_IPV4_MCAST_ADDRESS", "225.25.25.25", 0);
    zsys_init ();
    zsys_set_logstream (stderr);
    poller = zpoller_new (NULL);
    zmq_pollitem_t items [2];
    char line [1 << 16];
    size_t fill = 0;
    bool eof = false;
    while (!eof) {
        int count = 1;
        items [0] = (zmq_pollitem_t) { NULL, 0, ZMQ_POLLIN | ZMQ_POLLERR, 0 };
        if (node) {
            items [1] = (zmq_pollitem_t) { zsock_resolve (zyre_socket (node)), 0, ZMQ_POLLIN, 0 };
            count = 2;
        }
        if (zmq_poll (items, count, 100) < 0 || zsys_interrupted)
            break;
        if (count == 2 && (items [1].revents & ZMQ_POLLIN))
            forward_event ();
        //  a closed pipe polls as POLLHUP without POLLIN: read on any event to see EOF
        if (items [0].revents) {
            ssize_t got = read (0, line + fill, sizeof (line) - fill - 1);
            if (got <= 0) {
                eof = true;
                break;
            }
            fill += (size_t) got;
            line [fill] = 0;
            char *start = line, *nl;
            while ((nl = strchr (start, '\n'))) {
                *nl = 0;
                if (*start)
                    handle_line (start);
                start = nl + 1;
            }
            fill = strlen (start);
            memmove (line, start, fill + 1);
        }
    }
    if (node)
        cmd_stop (0);
    zpoller_destroy (&poller);
    return 0;
}
