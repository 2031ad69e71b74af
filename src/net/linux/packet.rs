//! AF_PACKET announcements (gratuitous ARP, unsolicited NA) and in-use probes (RFC 5227 ARP probe, DAD NS).
