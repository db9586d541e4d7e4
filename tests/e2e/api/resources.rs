//! Admins' CRUD of devices, areas, shifts and assignments, with the import's validation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::api::{ADMIN, ApiTown, VIEWER};
use crate::helpers::town;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_edit_devices_areas_shifts_and_assignments_and_the_org_is_bumped() {
    let t = ApiTown::start().await;
    let updated_at = || async {
        t.db.client()
            .await
            .query_one("SELECT updated_at FROM orgs WHERE id = 'humen'", &[])
            .await
            .unwrap()
            .get::<_, chrono::DateTime<chrono::Utc>>(0)
    };
    let before = updated_at().await;

    // Devices.
    let d = t
        .post(
            "/api/v1/devices",
            ADMIN,
            json!({"org": "humen", "device": "sw-9", "kind": "sweeper", "label": "Sweeper 9"}),
        )
        .await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.text);
    let id = d.body["id"].as_i64().unwrap();
    assert_eq!(d.body["device"], "sw-9");
    assert!(updated_at().await > before, "the engine is told to reload");
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "humen", "device": "sw-9", "kind": "sweeper"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT);
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "humen", "device": "bad/name", "kind": "sweeper"}),
    )
    .await
    .assert_invalid("device");
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "humen", "device": "x", "kind": "tank"}),
    )
    .await
    .assert_invalid("kind");
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "nowhere", "device": "x", "kind": "worker"}),
    )
    .await
    .assert_invalid("org");
    t.post(
        "/api/v1/devices",
        ADMIN,
        json!({"org": "humen", "device": "x", "kind": "worker", "owntracks_id": "nouser"}),
    )
    .await
    .assert_invalid("owntracks_id");
    let u = t
        .call(
            Method::PUT,
            &format!("/api/v1/devices/{id}"),
            Some(ADMIN),
            Some(json!({"kind": "washer", "label": "now a washer"})),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["kind"], "washer");
    let list = t.get("/api/v1/devices?org=humen&limit=2", VIEWER).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert!(list.body["next_cursor"].is_string());

    // Areas: a Feature exactly as in a scenario file.
    let (a, b) = (town::pt(0.0, 100.0), town::pt(500.0, 100.0));
    let route = json!({"type": "Feature", "id": "route-b",
        "properties": {"kind": "route", "width_m": 6, "name": "Route B", "district": "D2"},
        "geometry": {"type": "LineString", "coordinates": [[a.0, a.1], [b.0, b.1]]}});
    let r = t.post("/api/v1/areas/humen", ADMIN, route.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["district"], "D2");
    assert_eq!(r.body["feature"]["geometry"]["type"], "LineString");
    t.post("/api/v1/areas/humen", ADMIN, route.clone())
        .await
        .assert_problem(StatusCode::CONFLICT);
    let mut no_width = route.clone();
    no_width["id"] = json!("route-c");
    no_width["properties"]
        .as_object_mut()
        .unwrap()
        .remove("width_m");
    t.post("/api/v1/areas/humen", ADMIN, no_width)
        .await
        .assert_invalid("width_m");
    let mut one_point = route.clone();
    one_point["id"] = json!("route-d");
    one_point["geometry"]["coordinates"] = json!([[a.0, a.1], [a.0, a.1]]);
    t.post("/api/v1/areas/humen", ADMIN, one_point)
        .await
        .assert_invalid("geometry");
    let mut renamed = route.clone();
    renamed["properties"]["name"] = json!("Route B (new)");
    let u = t
        .call(
            Method::PUT,
            "/api/v1/areas/humen/route-b",
            Some(ADMIN),
            Some(renamed),
        )
        .await;
    assert_eq!(u.body["name"], "Route B (new)", "{}", u.text);
    let d2 = t.get("/api/v1/areas?district=D2", VIEWER).await;
    assert_eq!(d2.body["items"].as_array().unwrap().len(), 1, "{}", d2.text);

    // Shifts: the scenario's shift object.
    let s = t
        .post("/api/v1/shifts/humen", ADMIN, json!({"id": "early", "name": "Early", "weekly": [{"days": ["Mon"], "start": "04:00:00", "end": "06:00:00"}]}))
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
    assert_eq!(s.body["definition"]["weekly"][0]["start"], "04:00:00");
    t.post(
        "/api/v1/shifts/humen",
        ADMIN,
        json!({"id": "never", "weekly": []}),
    )
    .await
    .assert_invalid("weekly");
    t.post(
        "/api/v1/shifts/humen",
        ADMIN,
        json!({"id": "odd", "weekly": [{"days": ["Mon"], "start": "25:00:00", "end": "06:00:00"}]}),
    )
    .await
    .assert_invalid("weekly");

    // Assignments refer to what exists.
    let asg = t
        .post("/api/v1/assignments", ADMIN, json!({"device_id": id, "area": "route-b", "shift": "early", "valid_from": "2026-01-01T00:00:00Z"}))
        .await;
    assert_eq!(asg.status, StatusCode::CREATED, "{}", asg.text);
    assert_eq!(asg.body["device"], "sw-9");
    assert_eq!(asg.body["org"], "humen");
    t.post(
        "/api/v1/assignments",
        ADMIN,
        json!({"device_id": id, "area": "route-x", "shift": "early"}),
    )
    .await
    .assert_invalid("area");
    t.post(
        "/api/v1/assignments",
        ADMIN,
        json!({"device_id": id, "area": "route-b", "shift": "late"}),
    )
    .await
    .assert_invalid("shift");
    // A device that does not exist is 404, as one of another org would be.
    t.post(
        "/api/v1/assignments",
        ADMIN,
        json!({"device_id": 99999, "area": "route-b", "shift": "early"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
    t.post("/api/v1/assignments", ADMIN, json!({"device_id": id, "area": "route-b", "shift": "early", "valid_from": "2026-02-01T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"}))
        .await
        .assert_invalid("valid_to");

    // Deleting the area takes its assignments with it.
    let aid = asg.body["id"].as_i64().unwrap();
    let del = t
        .call(
            Method::DELETE,
            "/api/v1/areas/humen/route-b",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    t.get(&format!("/api/v1/assignments/{aid}"), VIEWER)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let del = t
        .call(
            Method::DELETE,
            &format!("/api/v1/devices/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    t.get(&format!("/api/v1/devices/{id}"), VIEWER)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}
