Feature: A developer filters the catalog by owner and type
  The catalog page of the Backstage frontend filters entities by kind,
  owner and type, and shows how many there are of each.

  Background:
    Given understage serves the example organisation

  Scenario: Filter components by owner
    When I list entities with the filter "kind=component,relations.ownedBy=group:default/team-orders"
    Then every entity returned is a component owned by "group:default/team-orders"
    And the number of entities returned equals the number of components that group owns

  Scenario: Filter by type with either of two values
    When I list entities with the filter "kind=component,spec.type=service,spec.type=website"
    Then every entity returned is a component of type "service" or "website"

  Scenario: Facet counts agree with the listing
    When I ask for the facet "spec.type" of components
    Then each facet count equals the number of components listed with that type

  Scenario: A bad filter is refused with Backstage's error
    When I list entities with the raw query "filter==value"
    Then the answer is a 400 InputError
    And the catalog still answers queries

  Scenario: An oversized request body is refused with Backstage's error
    When I ask for entities by 12000 refs in one request
    Then the answer is a 400 InputError
    And the catalog still answers queries

  Scenario Outline: Malformed queries get Backstage's errors and break nothing
    When I list entities with the raw query "<query>"
    Then the answer is a 400 InputError
    And the catalog still answers queries

    Examples:
      | query                      |
      | filter==value              |
      | limit=abc                  |
      | fields=metadata.tags[0]    |
      | order=sideways:metadata.name |
      | offset=-1                  |
      | after=                     |
