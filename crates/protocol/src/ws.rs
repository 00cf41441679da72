//! Messages on `GET /api/v1/ws`: one JSON object per text frame, each way.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ErrorCode, LocationInput, PlayerLocation, Visibility};

/// A frame from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    Location(LocationInput),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    pub map: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    pub map: String,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Snapshot {
        map: String,
        seq: u64,
        locations: Vec<PlayerLocation>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reset: Option<bool>,
    },
    Events {
        map: String,
        events: Vec<Event>,
    },
    Unsubscribed {
        map: String,
        reason: UnsubscribeReason,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        map: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnsubscribeReason {
    Left,
    Deleted,
    Slow,
    /// The map's owner removed the player.
    Removed,
}

/// One event of a map's sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    Location(PlayerLocation),
    Joined {
        player: String,
        name: String,
    },
    Left {
        player: String,
        name: String,
        /// `true` when the map's owner removed the player; absent on a leave of one's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        removed: Option<bool>,
    },
    /// The player took a new name.
    Renamed {
        player: String,
        name: String,
    },
    /// The owner renamed the map or changed its visibility, or ownership passed to another
    /// member (`owner` is an addition to the contract).
    MapUpdated {
        name: String,
        visibility: Visibility,
        owner: String,
    },
    /// The map was deleted: its last event (an addition to the contract). Every subscription
    /// to it ends right after, with reason `deleted`.
    MapDeleted {},
    /// A member drew a place on the map.
    PlaceAdded {
        place: crate::Place,
    },
    /// A place was removed: `place` is its id.
    PlaceRemoved {
        place: String,
    },
    /// The location just before it took the member into the place.
    Arrived(Crossing),
    /// The location just before it took the member out of the place.
    Departed(Crossing),
}

/// Who crossed which place's edge, and when (the `ts` of the location that crossed it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Crossing {
    pub player: String,
    pub name: String,
    pub place: String,
    pub place_name: String,
    #[schema(value_type = i64)]
    pub ts: crate::Millis,
}

impl EventBody {
    /// The event's `kind` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Location(_) => "location",
            EventBody::Joined { .. } => "joined",
            EventBody::Left { .. } => "left",
            EventBody::Renamed { .. } => "renamed",
            EventBody::MapUpdated { .. } => "map_updated",
            EventBody::MapDeleted {} => "map_deleted",
            EventBody::PlaceAdded { .. } => "place_added",
            EventBody::PlaceRemoved { .. } => "place_removed",
            EventBody::Arrived(_) => "arrived",
            EventBody::Departed(_) => "departed",
        }
    }

    /// The player the event is about, if it is about one.
    pub fn player(&self) -> Option<&str> {
        match self {
            EventBody::Location(l) => Some(&l.player),
            EventBody::Joined { player, .. }
            | EventBody::Left { player, .. }
            | EventBody::Renamed { player, .. } => Some(player),
            EventBody::Arrived(c) | EventBody::Departed(c) => Some(&c.player),
            EventBody::MapUpdated { .. }
            | EventBody::MapDeleted {}
            | EventBody::PlaceAdded { .. }
            | EventBody::PlaceRemoved { .. } => None,
        }
    }

    /// The subscriptions this event ends, and why: the removed or leaving player's, or
    /// everyone's when the map is deleted.
    pub fn ends(&self) -> Option<(Option<&str>, UnsubscribeReason)> {
        match self {
            EventBody::Left { player, removed: Some(true), .. } => {
                Some((Some(player), UnsubscribeReason::Removed))
            }
            EventBody::Left { player, .. } => Some((Some(player), UnsubscribeReason::Left)),
            EventBody::MapDeleted {} => Some((None, UnsubscribeReason::Deleted)),
            _ => None,
        }
    }
}

/// Encodes `{"type":"events","map":…,"events":[…]}` from borrowed events: the same bytes as
/// serialising [`ServerMessage::Events`], without owning the events. The fan-out path uses it
/// to encode a batch once for every subscriber.
pub fn encode_events<'a>(map: &str, events: impl IntoIterator<Item = &'a Event>) -> String {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"type":"events","map":"#);
    serde_json::to_writer(&mut out, map).expect("a string always encodes");
    out.extend_from_slice(br#","events":["#);
    for (i, event) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, event).expect("an event always encodes");
    }
    out.extend_from_slice(b"]}");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Encodes one server message (the rare, per-connection ones: snapshots, errors, notices).
pub fn encode(message: &ServerMessage) -> String {
    serde_json::to_string(message).expect("a server message always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fix;

    #[test]
    fn encode_events_matches_serde() {
        let events = vec![
            Event { seq: 1, body: EventBody::Joined { player: "p".into(), name: "Ron \"W\"".into() } },
            Event { seq: 2, body: EventBody::Left { player: "p".into(), name: "Ron".into(), removed: None } },
            Event {
                seq: 3,
                body: EventBody::Left { player: "p".into(), name: "Ron".into(), removed: Some(true) },
            },
            Event { seq: 4, body: EventBody::Renamed { player: "p".into(), name: "Ronald".into() } },
            Event {
                seq: 5,
                body: EventBody::MapUpdated {
                    name: "M".into(),
                    visibility: Visibility::Private,
                    owner: "o".into(),
                },
            },
            Event { seq: 6, body: EventBody::MapDeleted {} },
        ];
        let expected = encode(&ServerMessage::Events { map: "m".into(), events: events.clone() });
        assert_eq!(encode_events("m", &events), expected);
        let back: ServerMessage = serde_json::from_str(&expected).unwrap();
        assert_eq!(back, ServerMessage::Events { map: "m".into(), events });
    }

    #[test]
    fn the_second_wave_events_are_the_contracts_shapes() {
        let encoded = |body| serde_json::to_value(Event { seq: 1, body }).unwrap();
        assert_eq!(
            encoded(EventBody::Left { player: "p".into(), name: "R".into(), removed: Some(true) }),
            serde_json::json!({"seq":1,"kind":"left","player":"p","name":"R","removed":true})
        );
        assert_eq!(
            encoded(EventBody::Left { player: "p".into(), name: "R".into(), removed: None }),
            serde_json::json!({"seq":1,"kind":"left","player":"p","name":"R"})
        );
        assert_eq!(
            encoded(EventBody::MapUpdated {
                name: "M".into(),
                visibility: Visibility::Public,
                owner: "o".into()
            }),
            serde_json::json!({"seq":1,"kind":"map_updated","name":"M","visibility":"public","owner":"o"})
        );
        assert_eq!(encoded(EventBody::MapDeleted {}), serde_json::json!({"seq":1,"kind":"map_deleted"}));
        let reason = serde_json::to_value(UnsubscribeReason::Removed).unwrap();
        assert_eq!(reason, serde_json::json!("removed"));
    }

    #[test]
    fn location_event_is_flat() {
        let event = Event {
            seq: 7,
            body: EventBody::Location(PlayerLocation {
                player: "p".into(),
                name: "Harry".into(),
                fix: Fix {
                    lat: 1.0,
                    lon: 2.0,
                    accuracy: None,
                    altitude: None,
                    speed: Some(1.5),
                    heading: None,
                    ts: 9,
                },
            }),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq":7,"kind":"location","player":"p","name":"Harry",
                "lat":1.0,"lon":2.0,"speed":1.5,"ts":9})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn client_frames_parse_and_refuse_unknown_fields() {
        let sub: ClientMessage = serde_json::from_str(r#"{"type":"subscribe","map":"m","since":3}"#).unwrap();
        assert_eq!(sub, ClientMessage::Subscribe(Subscribe { map: "m".into(), since: Some(3) }));
        let loc: ClientMessage = serde_json::from_str(r#"{"type":"location","lat":1,"lon":2}"#).unwrap();
        assert!(matches!(loc, ClientMessage::Location(LocationInput { lat: 1.0, .. })));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","map":"m","x":1}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"location","lat":1,"lon":2,"x":1}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
