Feature: Only signed-in callers read the catalog
  Understage authenticates every catalog request as Backstage's default
  auth policy does: the frontend signs in with the guest provider and sends
  the Backstage token it receives on every call.

  Background:
    Given understage serves the example organisation with the default auth policy and the guest provider

  Scenario: A request without a token is refused
    When I list entities without a token
    Then the answer is a 401 AuthenticationError

  Scenario: A guest signs in and reads the catalog
    When I sign in as guest
    Then my identity is "user:development/guest"
    And I can list entities with my token

  Scenario: A forged token is refused
    When I list entities with a token signed by another key
    Then the answer is a 401 AuthenticationError
