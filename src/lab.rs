//! A throwaway lab of network namespaces: a LAN bridge, node A (primary + backup adapter), node B, a client.
