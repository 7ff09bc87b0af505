{
  "targets": [
    {
      "target_name": "udp_device",
      "sources": ["udp_device.c", "udp_send.c", "tftp_socket.c", "neighbour_advert.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
