//! Which app's service a name on the command line means. `APP/SERVICE`
//! says it whole; a bare name takes the app given apart (`--app`, `-f`),
//! else the app of the Compose file in the caller's folder when that app
//! has such a service (as `docker compose` takes the project of the folder
//! it runs in), else the only app deployed here that has one. A bare name
//! that several apps have, none of them the folder's, is refused with the
//! choices: guessing would act on another app's service.

use windlass_store::releases::ServiceKey;

use super::Error;

/// The key `service` names among `keys` (every service with a release),
/// `app` given apart and `here` the app of the caller's folder, if any.
pub fn resolve(
    keys: impl IntoIterator<Item = ServiceKey>,
    app: Option<&str>,
    here: Option<&str>,
    service: &str,
) -> Result<ServiceKey, Error> {
    if let Ok(key) = service.parse::<ServiceKey>() {
        return Ok(key);
    }
    if let Some(app) = app {
        return Ok(ServiceKey::new(app, service)?);
    }
    let mut owners: Vec<ServiceKey> = keys
        .into_iter()
        .filter(|k| k.service() == service && !k.is_ecs())
        .collect();
    if let Some(mine) = owners.iter().find(|k| Some(k.app()) == here) {
        return Ok(mine.clone());
    }
    match owners.len() {
        0 => Err(Error::UnknownService(service.to_owned())),
        1 => Ok(owners.remove(0)),
        _ => Err(Error::Ambiguous {
            service: service.to_owned(),
            choices: owners
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<ServiceKey> {
        ["shop/web", "blog/web", "shop/db", "ecs/prod/web"]
            .iter()
            .map(|k| k.parse().expect("a key"))
            .collect()
    }

    fn named(app: Option<&str>, here: Option<&str>, service: &str) -> Result<String, String> {
        resolve(keys(), app, here, service)
            .map(|k| k.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_name_means_one_app_s_service_or_is_refused() {
        assert_eq!(named(None, None, "blog/web"), Ok("blog/web".into()));
        assert_eq!(named(Some("blog"), None, "web"), Ok("blog/web".into()));
        assert_eq!(
            named(None, None, "db"),
            Ok("shop/db".into()),
            "only shop has a db"
        );
        assert_eq!(
            named(None, Some("shop"), "web"),
            Ok("shop/web".into()),
            "the folder's app"
        );
        assert_eq!(
            named(None, Some("blog"), "db"),
            Ok("shop/db".into()),
            "the folder's app has no db: the only one that has"
        );
        let refused = named(None, None, "web").expect_err("ambiguous");
        assert!(
            refused.contains("shop/web")
                && refused.contains("blog/web")
                && refused.contains("--app"),
            "{refused}"
        );
        assert!(
            !refused.contains("ecs/"),
            "ECS services are not the agent's: {refused}"
        );
        assert!(named(None, None, "cache").is_err());
    }
}
