"""The kiosk's MQTT side: what IT and Home Assistant see of every room.

``topics``     every topic name, built and parsed in one place
``discovery``  Home Assistant MQTT discovery messages (pure functions)
``link``       :class:`~kiosk.mqtt.link.MqttLink`, the connection: subscribes to the
               controller's event bus and publishes the room's state, checks and events,
               and answers requests on ``.../request/<action>``

Only counts and readiness ever leave the kiosk (DOMAIN D15): the payload builders in
``link`` copy named fields out of the controller's public state instead of passing it on.
"""
