"""Generate a deterministic corpus of realistic English news, RSS feeds and alert rules.

Everything is derived from seeded ``random.Random`` instances, so the same arguments always give
the same bytes. Articles and rules share one vocabulary of generated proper nouns (people,
companies, places, teams, products) plus phrases taken from the article templates, so that
generated rules fire now and then, as real alert rules do. A small share of articles (about 4 %)
reports one of the events the three shipped rules look for: a missile launch, a U.N. sanctions
vote, an oil embargo.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

VOCAB_SEED = 20_240_521
ARTICLE_MEAN_BYTES = 1500
_SLOT = re.compile(r"\{(\w+)\}")

# Words of the shipped rules: generated names must never collide with them.
_TRIGGER_PREFIXES = (
    "missile",
    "icbm",
    "irbm",
    "slbm",
    "launch",
    "fire",
    "firing",
    "test",
    "sanction",
    "vote",
    "voting",
    "adopt",
    "approv",
    "passed",
    "unanim",
    "resolution",
    "veto",
    "embargo",
    "blockad",
    "block",
    "interceptor",
    "ballistic",
    "oil",
    "crude",
    "fuel",
    "petrol",
)
_TRIGGER_WORDS = frozenset({"ban", "bans", "banned", "banning", "un", "unsc", "cut", "off"})

# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------

COUNTRIES = (
    "Argentina", "Australia", "Austria", "Bangladesh", "Belgium", "Bolivia", "Brazil",
    "Bulgaria", "Canada", "Chile", "China", "Colombia", "Croatia", "Czech Republic", "Denmark",
    "Ecuador", "Egypt", "Estonia", "Ethiopia", "Finland", "France", "Germany", "Ghana", "Greece",
    "Hungary", "India", "Indonesia", "Ireland", "Israel", "Italy", "Japan", "Jordan",
    "Kazakhstan", "Kenya", "Latvia", "Lebanon", "Lithuania", "Malaysia", "Mexico", "Morocco",
    "the Netherlands", "New Zealand", "Nigeria", "Norway", "Pakistan", "Peru", "the Philippines",
    "Poland", "Portugal", "Romania", "Saudi Arabia", "Senegal", "Serbia", "Singapore",
    "Slovakia", "South Africa", "South Korea", "Spain", "Sri Lanka", "Sweden", "Switzerland",
    "Taiwan", "Tanzania", "Thailand", "Tunisia", "Turkey", "Uganda", "Ukraine",
    "the United Arab Emirates", "Britain", "the United States", "Uruguay", "Vietnam", "Zambia",
)  # fmt: skip
# Countries that appear in missile-launch reports.
LAUNCHERS = ("North Korea", "Iran", "Russia", "China", "Pakistan", "India", "the Houthis")
# Countries that U.N. sanctions resolutions target.
SANCTIONED = ("North Korea", "Iran", "Mali", "South Sudan", "Libya", "Haiti", "Somalia", "Yemen")
EMBARGOED = ("Venezuela", "Iran", "Syria", "Russia", "Libya", "Myanmar", "Sudan")

REAL_CITIES = (
    "Accra", "Amsterdam", "Ankara", "Athens", "Auckland", "Bangkok", "Barcelona", "Beirut",
    "Berlin", "Bogota", "Brussels", "Bucharest", "Budapest", "Buenos Aires", "Cairo",
    "Cape Town", "Chicago", "Copenhagen", "Dakar", "Delhi", "Denver", "Doha", "Dubai", "Dublin",
    "Frankfurt", "Geneva", "Hamburg", "Hanoi", "Helsinki", "Houston", "Istanbul", "Jakarta",
    "Johannesburg", "Karachi", "Kyiv", "Lagos", "Lima", "Lisbon", "London", "Los Angeles",
    "Lyon", "Madrid", "Manila", "Melbourne", "Mexico City", "Milan", "Montreal", "Mumbai",
    "Munich", "Nairobi", "Osaka", "Oslo", "Ottawa", "Paris", "Prague", "Rome", "Santiago",
    "Sao Paulo", "Seattle", "Seoul", "Singapore", "Stockholm", "Sydney", "Taipei", "Tokyo",
    "Toronto", "Vancouver", "Vienna", "Warsaw", "Zurich",
)  # fmt: skip
FIRST_NAMES = (
    "Aaron", "Abdul", "Adriana", "Ahmed", "Aisha", "Alejandro", "Alice", "Amara", "Ana",
    "Andrei", "Anita", "Arjun", "Beatriz", "Benjamin", "Camille", "Carlos", "Catherine", "Chen",
    "Chloe", "Daniel", "David", "Dmitri", "Elena", "Emeka", "Emily", "Erik", "Fatima", "Felipe",
    "Fiona", "Francesca", "Gabriel", "Grace", "Hana", "Hassan", "Helen", "Hiroshi", "Ibrahim",
    "Ines", "Ingrid", "Isaac", "Ivan", "James", "Javier", "Jean", "Jin", "Joanna", "John",
    "Jorge", "Julia", "Kamala", "Karim", "Katarzyna", "Kenji", "Kofi", "Lars", "Laura", "Layla",
    "Leila", "Li", "Lucas", "Lucia", "Luis", "Maria", "Marco", "Mark", "Marta", "Mateo",
    "Mehmet", "Mei", "Michael", "Min-jun", "Mohammed", "Nadia", "Naledi", "Natalia", "Nikolai",
    "Nina", "Noor", "Olga", "Omar", "Pablo", "Paolo", "Patrick", "Paul", "Pedro", "Peter",
    "Pierre", "Priya", "Rafael", "Rahul", "Ricardo", "Robert", "Rosa", "Sakura", "Samuel",
    "Sara", "Sebastian", "Sergei", "Sofia", "Sophie", "Stefan", "Sunil", "Tariq", "Thomas",
    "Tomas", "Valentina", "Victor", "Wei", "William", "Yasmin", "Yusuf", "Zainab", "Zhang",
)  # fmt: skip
ORG_SUFFIXES = (
    "Holdings", "Group", "Energy", "Bank", "Motors", "Systems", "Airlines", "Pharmaceuticals",
    "Telecom", "Capital", "Mining", "Logistics", "Labs", "Foods", "Insurance", "Steel",
    "Shipping", "Media", "Semiconductor", "Robotics", "Partners", "Retail", "Chemicals",
    "Networks", "Aerospace",
)  # fmt: skip
TEAM_NAMES = (
    "Falcons", "Rovers", "United", "City", "Wanderers", "Lions", "Tigers", "Athletic", "Eagles",
    "Rangers", "Sharks", "Bears", "Comets", "Wolves", "Titans", "Harriers", "Royals", "Giants",
)  # fmt: skip
PLACE_SHAPES = ("{}", "{}", "{}", "Port {}", "New {}", "{} Bay", "San {}", "{}ville", "{}burg")
INTL_ORGS = (
    "the World Bank", "the International Monetary Fund", "NATO", "the European Union",
    "the African Union", "the World Health Organization", "the World Trade Organization",
    "the Group of 20", "ASEAN", "the Organisation for Economic Co-operation and Development",
    "the International Energy Agency", "the Red Cross",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

_ONSETS = (
    "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
    "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", "th", "bl", "cl",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ia", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "k", "m", "nd", "rt", "ss", "v", "z", "lt", "x")
_ENDINGS = (
    "", "", "", "son", "ova", "ez", "ski", "elli", "berg", "ton", "wood", "ard", "ani", "ic",
    "ez", "ard", "ley", "mann", "sen", "ovic", "ashi", "aro", "ine",
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# Templates. Slots: {P} {p} person and surname, {P2} {p2} a second person, {Px} anyone,
# {role} {role2} their titles, {C} {C2} {Cx} companies, {N} {N2} {Nx} countries, {T} {Tx}
# cities, {K} {K2} teams, {prod} a product, {intl} an international body, {num} {big} {pct}
# {money} {day} {month} {score} numbers and dates. Trigger words of the shipped rules appear
# only in the _EVENTS templates and the hard negatives written to miss them.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """Templates and job titles for one beat of the newsroom."""

    name: str
    weight: float
    roles: tuple[str, ...]
    stories: tuple[tuple[str, str], ...]  # (title, lead sentence) pairs
    body: tuple[str, ...]


FILLER = (
    "The details were not immediately clear.",
    "{P} did not respond to a request for comment on {day}.",
    "A spokesperson for {C} declined to comment.",
    "Officials in {T} said more information would be released later in the week.",
    "The announcement came as {N} prepared for a busy week of meetings.",
    "Analysts said the move had been widely expected.",
    "\u201cWe are watching the situation very closely,\u201d {Px} said in a statement.",
    "Local media in {T} reported similar accounts.",
    "It was not immediately possible to verify the figures independently.",
    "The government in {N} has not commented publicly.",
    "{Px}, a researcher based in {Tx}, said the decision reflected a broader shift.",
    "The story has been updated with additional reporting from {Tx}.",
)

# fmt: off
TOPICS = (
    Topic(
        "politics", 0.17,
        ("Prime Minister", "Finance Minister", "opposition leader", "Interior Minister",
         "President", "senator", "Mayor", "Health Minister", "party chair"),
        (
            ("{role} {P} faces confidence vote over budget plan",
             "{role} {P} will face a confidence vote in parliament on {day} after coalition"
             " partners refused to back the budget plan, which includes deep cuts to regional"
             " spending."),
            ("{N} parliament passes sweeping housing reform",
             "Lawmakers in {N} approved the housing bill by a narrow margin late on {day},"
             " handing {role} {P} a rare legislative win."),
            ("Election campaign in {N} enters final week with {P} ahead in polls",
             "With a week to go before the general election in {N}, {P} holds a lead of {num}"
             " points in the opinion polls, though many voters say they are still undecided."),
            ("{P} names new cabinet after weeks of coalition talks",
             "{role} {P} unveiled a new cabinet on {day}, ending {num} weeks of coalition talks"
             " that had left {N} without a functioning government."),
            ("Protests in {T} as lawmakers debate pension changes",
             "Thousands of people marched through central {T} on {day} to protest against"
             " proposed changes to the pension age, as lawmakers began debating the bill."),
            ("{role} {P} resigns after party revolt",
             "{role} {P} resigned on {day} after a revolt by senior members of the party, who"
             " accused the leadership of ignoring voters in {T} and other regional cities."),
            ("Court in {T} strikes down electoral map",
             "The constitutional court in {T} on {day} struck down the electoral map drawn up"
             " last year, ordering parliament to redraw district boundaries by {month}."),
            ("{P} promises tax cuts in keynote speech",
             "{role} {P} said on {day} that the government would press ahead with its plan to"
             " overhaul the tax system and promised tax cuts for low earners."),
        ),
        (
            "The opposition, led by {P2}, has accused the government of rushing the"
            " legislation through parliament without proper scrutiny.",
            "Opinion polls published this week put {p}'s party at {num} percent, {num} points"
            " ahead of its nearest rival.",
            "The coalition agreement includes commitments on public transport, childcare and"
            " regional investment.",
            "{P2}, the {role2}, told reporters in {T} that the party would table amendments.",
            "Turnout in the last general election was {pct}, the lowest in decades.",
            "Critics say the reform will do little to ease the housing shortage in {T}.",
            "The budget deficit is forecast to reach {pct} of economic output next year.",
            "{P} has governed since {month}, when the previous coalition collapsed.",
            "A cross-party committee will review the bill before a final reading in {month}.",
            "Regional elections are due in {month}, and the campaign has already begun.",
            "Members of the ruling party in {T} said privately that the leadership had"
            " misjudged the public mood.",
            "The constitutional court is expected to rule on the challenge by {month}.",
            "\u201cThis is about fairness for working families,\u201d {P} said at a rally in {T}.",
            "The interior ministry said {big} police officers had been deployed.",
            "{P2} called for an early election and said the government had lost its mandate.",
            "The proposal would raise the retirement age from {num} to {num} over a decade.",
            "Public sector unions have threatened a general strike in {month}.",
        ),
    ),
    Topic(
        "markets", 0.18,
        ("chief executive", "chief financial officer", "chairman", "central bank governor",
         "chief economist", "portfolio manager", "analyst"),
        (
            ("{C} shares jump after profit beats forecasts",
             "Shares in {C} rose {pct} on {day} after the company reported quarterly profit"
             " well above analysts' forecasts, helped by strong demand in {N}."),
            ("{C} to cut {big} jobs as demand slows",
             "{C} said on {day} it would cut about {big} jobs worldwide as it seeks to reduce"
             " costs by {money} a year."),
            ("Central bank in {N} holds rates, signals cuts later this year",
             "The central bank of {N} left its benchmark interest rate unchanged at {pct} on"
             " {day}, but signalled that cuts could come later in the year."),
            ("{C} agrees {money} takeover of {C2}",
             "{C} has agreed to buy {C2} for {money} in cash and shares, the companies said on"
             " {day}, creating one of the largest groups in the sector."),
            ("Stocks slip as investors weigh inflation data",
             "Stocks fell on {day} as investors weighed fresh inflation data from {N} that"
             " suggested price pressures were proving harder to tame than expected."),
            ("{C} names {P} as chief executive",
             "{C} has named {P} as its next chief executive, the company said on {day}, ending"
             " a search that began when the previous boss stepped down in {month}."),
            ("{N} economy grows faster than expected in second quarter",
             "The economy of {N} grew {pct} in the second quarter, faster than economists had"
             " expected, as household spending and exports both picked up."),
            ("Bond yields climb as traders pare rate-cut bets",
             "Government bond yields rose on {day} as traders scaled back bets on interest"
             " rate cuts after strong jobs figures from {N}."),
        ),
        (
            "Revenue rose {pct} to {money} in the three months to the end of {month}.",
            "{P}, the {role} of {C}, told analysts on a conference call that the outlook for"
            " the rest of the year remained uncertain.",
            "The benchmark stock index closed {pct} higher, while the currency weakened"
            " slightly against the dollar.",
            "Inflation eased to {pct} in {month}, according to the national statistics office.",
            "Analysts at {C2} said the results showed the restructuring was starting to pay off.",
            "The company raised its full-year guidance and announced a share buyback of {money}.",
            "Operating margins narrowed to {pct} as input costs climbed.",
            "The deal, which still needs regulatory approval, is expected to close by {month}.",
            "{P2}, a {role2} at {C2}, said investors were looking for signs of a slowdown.",
            "Ten-year government bond yields rose {num} basis points to {pct}.",
            "Trading volumes were thin ahead of a holiday in {N}.",
            "The company's debt load has worried credit rating agencies for some time.",
            "Retail sales in {N} fell {pct} in {month} from a year earlier.",
            "Unemployment held steady at {pct}, the labour ministry said.",
            "Shares of {C2} have lost about a third of their value this year.",
            "The merger would create a company with annual sales of about {money}.",
            "Pension funds and other long-term investors have been trimming their holdings.",
        ),
    ),
    Topic(
        "tech", 0.13,
        ("chief executive", "chief technology officer", "founder", "head of research",
         "security researcher", "product chief"),
        (
            ("{C} unveils {prod} with on-device AI features",
             "{C} on {day} unveiled the {prod}, its latest device, which the company said would"
             " run more artificial intelligence tasks without sending data to the cloud."),
            ("{C} hit by data breach affecting {big} customers",
             "{C} said hackers had gained access to the personal data of about {big} customers,"
             " in the latest in a string of cyberattacks on companies in {N}."),
            ("Regulators in {N} open antitrust probe into {C}",
             "Competition regulators in {N} have opened a formal investigation into whether"
             " {C} abused its dominant position in online advertising."),
            ("{C} raises {money} to expand chip production",
             "{C} has raised {money} from investors to build a new semiconductor plant near {T},"
             " the company said on {day}."),
            ("Start-up {C} brings satellite internet service to {N}",
             "{C}, a start-up based in {T}, said on {day} that its satellite internet service"
             " was now available to customers across {N}."),
            ("{C} delays {prod} rollout after software glitches",
             "{C} has delayed the rollout of the {prod} by several weeks after testers reported"
             " software glitches, the company said on {day}."),
            ("Cyberattack disrupts hospital systems in {T}",
             "A cyberattack disrupted computer systems at several hospitals in {T} on {day},"
             " forcing staff to cancel appointments and divert ambulances."),
        ),
        (
            "The {prod} will go on sale in {month} at a starting price of {money_small}.",
            "{P}, the company's {role}, said the new chip was twice as fast as its predecessor.",
            "Security researchers said the attackers exploited a flaw in widely used software.",
            "The company said it had notified the data protection authority in {N}.",
            "{P2}, a {role2} at {C2}, said the market for AI chips was growing quickly.",
            "The investigation could lead to fines of up to {pct} of global turnover.",
            "Demand for data centre capacity has soared since the start of the year.",
            "The firm employs about {big} people, most of them in {T}.",
            "Customers were advised to change their passwords and enable two-factor"
            " authentication.",
            "The open-source project has more than {big} contributors.",
            "Critics say the technology raises serious privacy concerns.",
            "The service will initially be available in {num} countries.",
            "Engineers at {C} have been working on the project for {num} years.",
            "{C2} shares fell {pct} on the news.",
            "The outage lasted several hours and affected users across {N}.",
            "The smartphone market shrank {pct} last year, according to industry estimates.",
        ),
    ),
    Topic(
        "sports", 0.14,
        ("coach", "captain", "striker", "midfielder", "goalkeeper", "manager", "forward"),
        (
            ("{K} beat {K2} {score} to reach the final",
             "{K} beat {K2} {score} on {day} night to book a place in the final, with {P}"
             " scoring the decisive goal in the {num}th minute."),
            ("{P} scores twice as {K} stay top",
             "{P} scored twice as {K} extended their lead at the top of the table to {num}"
             " points with a win over {K2} in {T}."),
            ("{K} appoint {P} as new manager",
             "{K} have appointed {P} as their new manager on a three-year contract, the club"
             " said on {day}."),
            ("{P} wins opening stage in {T}",
             "{P} of {N} won the opening stage of the race in {T} on {day}, finishing {num}"
             " seconds ahead of the pack."),
            ("Injury rules {P} out of {N} squad",
             "{P} has been ruled out of the {N} squad for next month's qualifiers with a knee"
             " injury, the national federation said on {day}."),
            ("{K} and {K2} draw {score} in tense derby",
             "{K} and {K2} shared the points in a tense derby in {T} on {day}, with {P}"
             " equalising late in the second half."),
            ("{P} breaks national record in {T}",
             "{P} broke the national record in the 400 metres at a meeting in {T} on {day},"
             " lowering a mark that had stood for {num} years."),
        ),
        (
            "The {role} said after the match that the team had shown great character.",
            "{P2}, the {K2} {role2}, was sent off early in the second half.",
            "A crowd of {big} watched the game in {T}.",
            "The previous manager left the club in {month} after a run of poor results.",
            "{p} has now scored {num} goals in all competitions this season.",
            "The final will be played in {T} on {num} {month}.",
            "{K2} had not lost at home since {month}.",
            "The injury means {P2} will miss at least {num} weeks.",
            "\u201cIt was a difficult game, but we deserved to win,\u201d {P} told reporters.",
            "The club paid a reported {money_small} million for the striker last summer.",
            "Rain delayed the start of play by {num} minutes.",
            "The win lifted {K} above their rivals for the first time since {month}.",
            "The national team's coach is expected to name the squad next week.",
            "Tickets for the final sold out within hours.",
            "The race continues on {day} with a mountain stage.",
            "{K} have won the title {num} times, more than any other club.",
        ),
    ),
    Topic(
        "conflict", 0.10,
        ("Defence Minister", "army spokesman", "general", "military analyst", "commander",
         "UN envoy"),
        (
            ("Fighting intensifies near {T} as ceasefire talks stall",
             "Heavy fighting broke out on the outskirts of {T} on {day}, residents said, as"
             " talks on a ceasefire appeared to stall."),
            ("{N} signs air defence deal with {C}",
             "{N} on {day} signed a deal worth {money} with {C} for new air defence systems,"
             " including radar and missile defence batteries."),
            ("Thousands flee clashes in northern {N}",
             "Thousands of civilians have fled their homes in northern {N} after a week of"
             " clashes between government forces and armed groups, aid agencies said."),
            ("Drone strike hits depot outside {T}",
             "A drone struck a storage depot outside {T} overnight, starting a blaze that"
             " burned for several hours, local officials said."),
            ("Troops withdraw from border town after weeks of shelling",
             "Government troops pulled out of a border town near {T} on {day} after weeks of"
             " shelling, the {role} {P} said."),
        ),
        (
            "The {role} said the army had repelled several attacks along the front line.",
            "Aid agencies said they had been unable to reach the worst-hit areas.",
            "{P}, the {role}, said the missile defence shield would be operational by {month}.",
            "The United Nations said at least {num} civilians had been killed in the past week.",
            "Satellite images showed damage to several buildings near {T}.",
            "{P2}, a {role2}, said neither side appeared ready to make concessions.",
            "The defence ministry said the new systems would protect major cities from attack.",
            "Mediators from {N2} have been shuttling between the two sides.",
            "Residents described hearing explosions throughout the night.",
            "The army said it had taken control of {num} villages.",
            "Humanitarian groups warned of shortages of food and medicine.",
            "Officials said the interceptors would be delivered over the next {num} years.",
            "The conflict has displaced more than {big} people since it began.",
            "Both sides accused each other of violating the truce.",
            "Military analysts said the deployment signalled a shift in strategy.",
        ),
    ),
    Topic(
        "diplomacy", 0.09,
        ("Foreign Minister", "ambassador", "envoy", "Secretary of State", "trade commissioner",
         "President"),
        (
            ("{N} and {N2} agree to restore diplomatic ties",
             "{N} and {N2} agreed on {day} to restore full diplomatic relations and reopen their"
             " embassies, ending a rift that lasted {num} years."),
            ("Foreign ministers meet in {T} to discuss regional security",
             "Foreign ministers from more than {num} countries gathered in {T} on {day} for talks"
             " on regional security and trade."),
            ("{N} announces new sanctions on {N2} officials",
             "{N} on {day} announced new sanctions on {num} officials from {N2}, freezing their"
             " assets and barring them from travel."),
            ("{P} visits {N2} in first trip abroad as foreign minister",
             "{role} {P} arrived in {T} on {day} for talks with {P2}, the first visit by a senior"
             " official from {N} in more than a decade."),
            ("Trade talks between {N} and {N2} resume in {T}",
             "Negotiators from {N} and {N2} resumed trade talks in {T} on {day}, aiming to cut"
             " tariffs on farm goods and cars before the end of the year."),
            ("{intl} summit opens in {T} amid tensions",
             "Leaders gathered in {T} on {day} for a summit of {intl}, with disputes over trade"
             " and migration expected to dominate the agenda."),
        ),
        (
            "The two governments said they would appoint ambassadors within {num} weeks.",
            "{P2}, the {role2}, described the talks as frank and constructive.",
            "The national sanctions target individuals accused of corruption.",
            "A joint statement called for closer cooperation on trade and climate.",
            "The meeting in {T} was the first of its kind since {month}.",
            "Diplomats said a final agreement could be signed by {month}.",
            "{intl} welcomed the agreement and urged both sides to implement it quickly.",
            "The visit was overshadowed by a dispute over fishing rights.",
            "Officials said the talks would continue in {Tx} next month.",
            "{N2} summoned the ambassador of {N} in protest on {day}.",
            "The trade deal would cut tariffs on {num} percent of goods.",
            "Human rights groups urged the ministers to raise the cases of detained activists.",
            "The leaders are expected to meet again on the sidelines of the {intl} summit.",
            "The foreign ministry in {N} said it would respond in kind.",
        ),
    ),
    Topic(
        "energy", 0.07,
        ("Energy Minister", "oil analyst", "chief executive", "OPEC delegate", "trader"),
        (
            ("Oil prices rise as supply concerns grow",
             "Oil prices rose on {day}, with benchmark crude climbing {pct} to {money_small} a"
             " barrel, as traders worried about tight supplies heading into the winter."),
            ("{C} approves {money} offshore wind project",
             "{C} has given the go-ahead for a {money} offshore wind farm off the coast of {N},"
             " which it says will power more than a million homes."),
            ("OPEC+ agrees to keep output steady",
             "OPEC+ producers agreed on {day} to keep crude oil output unchanged, as expected,"
             " after a short online meeting."),
            ("Petrol prices in {N} hit record high",
             "Average petrol prices in {N} hit a record on {day}, the motoring association said."),
            ("{N} signs gas supply deal with {N2}",
             "{N} signed a ten-year deal on {day} to buy natural gas from {N2}, as it seeks to"
             " diversify its energy supplies."),
            ("{C} to build new refinery near {T}",
             "{C} said on {day} it would build a new refinery near {T} at a cost of {money},"
             " creating about {big} jobs during construction."),
        ),
        (
            "Crude inventories fell by {big} barrels last week, according to industry data.",
            "{P}, an {role} at {C2}, said demand from Asia was stronger than expected.",
            "The wind farm is due to start producing power in {month} next year.",
            "Natural gas prices in Europe were little changed.",
            "The refinery will process about {big} barrels of crude a day.",
            "{P2}, the {role2}, said the country would meet its climate targets.",
            "Fuel costs account for about a third of household energy spending in {N}.",
            "Investment in solar power rose {pct} last year.",
            "The pipeline will carry gas from fields in {N2} to ports on the coast.",
            "Electricity prices have eased since the peak in {month}.",
            "Analysts expect oil demand to grow by about {pct} this year.",
            "The energy regulator in {N} will review the tariff in {month}.",
            "Shares in {C} rose {pct} after the announcement.",
        ),
    ),
    Topic(
        "health", 0.06,
        ("Health Minister", "epidemiologist", "chief medical officer", "researcher",
         "hospital director"),
        (
            ("New vaccine shows promise in late-stage trial",
             "An experimental vaccine developed by {C} cut the risk of severe illness by {pct}"
             " in a late-stage trial, the company said on {day}."),
            ("Hospitals in {T} stretched as flu cases rise",
             "Hospitals in {T} are under strain as flu cases climb to their highest level in"
             " {num} years, health officials said on {day}."),
            ("{C} wins approval for Alzheimer's drug in {N}",
             "Regulators in {N} have cleared a new drug from {C} for the treatment of early"
             " Alzheimer's disease."),
            ("Study links air pollution to dementia risk",
             "People exposed to high levels of air pollution are more likely to develop dementia,"
             " according to a study of {big} adults published on {day}."),
            ("{N} expands free screening for cancer",
             "{N} will offer free cancer screening to everyone over 50 from {month}, the health"
             " ministry said on {day}."),
        ),
        (
            "The trial involved about {big} volunteers in {num} countries.",
            "{P}, a {role} in {T}, said the findings were encouraging but needed confirmation.",
            "Waiting times for routine surgery have grown since {month}.",
            "The drug will cost about {money_small} per patient per year.",
            "{P2}, the {role2}, urged older people to get vaccinated.",
            "The researchers followed participants for more than {num} years.",
            "Doctors' unions have warned of staff shortages across the health service.",
            "The ministry said it would fund {big} additional hospital beds.",
        ),
    ),
    Topic(
        "disaster", 0.06,
        ("fire chief", "meteorologist", "regional governor", "emergency coordinator",
         "rescue official"),
        (
            ("Floods force thousands from homes in {T}",
             "Flooding has forced more than {big} people from their homes in and around {T}"
             " after days of heavy rain, officials said on {day}."),
            ("Wildfire near {T} prompts evacuations",
             "A wildfire burning in hills near {T} has prompted the evacuation of several"
             " villages, the regional fire service said on {day}."),
            ("Earthquake of magnitude {mag} strikes off {N}",
             "An earthquake of magnitude {mag} struck off the coast of {N} on {day}, the"
             " geological survey said; there were no immediate reports of damage."),
            ("Storm brings record rainfall to {T}",
             "A powerful storm brought record rainfall to {T} on {day}, flooding streets and"
             " cutting power to thousands of homes."),
            ("Heatwave grips {N} as temperatures top {num} degrees",
             "Temperatures in parts of {N} climbed above 40 degrees on {day} as a heatwave"
             " tightened its grip, and the weather service warned of more to come."),
        ),
        (
            "Firefighters were battling the blaze from the air and on the ground.",
            "{P}, the {role}, said conditions were expected to improve by {day}.",
            "Rescue teams were searching for {num} people reported missing.",
            "Schools in the region will stay closed until further notice.",
            "The weather service issued a red warning for {num} provinces.",
            "{P2}, the {role2}, said it was the worst flooding in {num} years.",
            "Several roads and a railway line were closed.",
            "Residents were told to boil drinking water.",
            "The fire has burned more than {big} hectares of forest.",
            "Insurers estimate the damage at about {money}.",
        ),
    ),
)
# fmt: on

# The events of the three shipped rules: (title, lead) pairs and the topic whose body follows.
# fmt: off
_EVENTS: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "missile": (
        (
            ("{L} launches ballistic missile into sea, {N2} says",
             "{L} launched a ballistic missile into the sea off its east coast on {day}, the"
             " military of {N2} said, the latest in a series of weapons tests this year."),
            ("{L} test-fires new long-range missile",
             "{L} said on {day} it had successfully test-fired a new intercontinental ballistic"
             " missile, which state media called a major step for its deterrent."),
            ("{L} fires missiles as tensions rise with {N2}",
             "{L} fired two short-range missiles from a site near its capital early on {day},"
             " according to officials in {N2}."),
            ("Missile launched by {L} flew over {N2}, officials say",
             "A missile launched by {L} on {day} flew over northern {N2} before falling into the"
             " ocean, prompting warnings for residents to take shelter."),
        ),
        "conflict",
    ),
    "sanctions": (
        (
            ("UN Security Council votes to tighten sanctions on {S}",
             "The U.N. Security Council voted unanimously on {day} to tighten sanctions on {S},"
             " adopting a resolution drafted by {N}."),
            ("Security Council adopts new {S} sanctions resolution",
             "The United Nations Security Council on {day} adopted a resolution imposing new"
             " sanctions on {S}, with {num} members voting in favour and none against."),
            ("U.N. votes to extend sanctions on {S} for another year",
             "The Security Council voted on {day} to extend an arms embargo and other sanctions"
             " on {S} for another year."),
            ("UN Security Council approves arms sanctions on {S}",
             "Members of the UN Security Council approved new sanctions on {S} in a vote on"
             " {day}, after weeks of negotiations."),
        ),
        "diplomacy",
    ),
    "oil": (
        (
            ("{N} imposes oil embargo on {E}",
             "{N} said on {day} it would impose an oil embargo on {E}, halting all crude"
             " purchases from the country within {num} days."),
            ("{N} bans imports of crude oil from {E}",
             "The government of {N} banned imports of crude oil from {E} on {day}, citing"
             " national security concerns."),
            ("Oil embargo on {E} to take effect next month",
             "An embargo on oil from {E} will take effect next month, {role} {P} said on {day},"
             " after months of debate."),
            ("{N} and allies agree to cut off oil purchases from {E}",
             "{N} and its allies agreed to cut off oil shipments from {E} starting in {month},"
             " officials said."),
        ),
        "energy",
    ),
}
# fmt: on
EVENT_SHARE = {"missile": 0.015, "sanctions": 0.012, "oil": 0.012}


# What alert rules look for next to a name: words and phrases each topic's templates use.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "politics": (
        "coalition",
        "coalition talks",
        "cabinet",
        "parliament",
        "housing reform",
        "housing bill",
        "pension age",
        "pension",
        "budget deficit",
        "budget",
        "opinion polls",
        "tax cuts",
        "tax system",
        "general strike",
        "retirement age",
        "protest",
        "lawmakers",
        "opposition",
        "resigns",
        "regional elections",
        "electoral map",
        "confidence vote",
        "constitutional court",
        "early election",
        "rally",
        "police officers",
        "public sector unions",
        "mandate",
    ),
    "markets": (
        "shares",
        "profit",
        "quarterly profit",
        "jobs",
        "takeover",
        "interest rate",
        "benchmark interest rate",
        "central bank",
        "inflation",
        "bond yields",
        "share buyback",
        "guidance",
        "revenue",
        "restructuring",
        "merger",
        "regulatory approval",
        "rating agencies",
        "retail sales",
        "unemployment",
        "basis points",
        "chief executive",
        "stock index",
        "pension funds",
        "debt",
        "operating margins",
        "conference call",
        "rate-cut bets",
    ),
    "tech": (
        "data breach",
        "hackers",
        "cyberattack",
        "artificial intelligence",
        "antitrust",
        "investigation",
        "semiconductor plant",
        "chip",
        "data centre",
        "passwords",
        "two-factor authentication",
        "privacy",
        "outage",
        "smartphone market",
        "open-source",
        "satellite internet",
        "software",
        "online advertising",
        "data protection",
        "glitches",
        "on-device AI",
        "personal data",
        "fines",
        "security researchers",
    ),
    "sports": (
        "final",
        "manager",
        "striker",
        "goals",
        "sent off",
        "injury",
        "contract",
        "title",
        "derby",
        "national record",
        "squad",
        "opening stage",
        "mountain stage",
        "top of the table",
        "crowd",
        "tickets",
        "decisive goal",
        "second half",
        "three-year contract",
        "home",
    ),
    "conflict": (
        "ceasefire",
        "drone",
        "drone strike",
        "air defence",
        "clashes",
        "civilians",
        "front line",
        "satellite images",
        "explosions",
        "shelling",
        "troops",
        "humanitarian",
        "displaced",
        "truce",
        "armed groups",
        "aid agencies",
        "radar",
        "mediators",
        "villages",
        "defence ministry",
    ),
    "diplomacy": (
        "diplomatic relations",
        "diplomatic ties",
        "embassies",
        "ambassador",
        "sanctions",
        "trade talks",
        "trade deal",
        "tariffs",
        "joint statement",
        "summit",
        "foreign ministers",
        "human rights",
        "detained activists",
        "fishing rights",
        "regional security",
        "corruption",
        "assets",
        "visit",
        "summoned",
        "ambassadors",
    ),
    "energy": (
        "oil prices",
        "crude inventories",
        "offshore wind",
        "wind farm",
        "refinery",
        "OPEC",
        "natural gas",
        "gas supply",
        "pipeline",
        "solar power",
        "electricity prices",
        "petrol prices",
        "climate targets",
        "barrel",
        "output",
        "energy regulator",
        "tariff",
    ),
    "health": (
        "vaccine",
        "late-stage trial",
        "flu",
        "flu cases",
        "Alzheimer's",
        "dementia",
        "air pollution",
        "screening",
        "cancer",
        "hospital beds",
        "staff shortages",
        "waiting times",
        "volunteers",
        "vaccinated",
        "severe illness",
    ),
    "disaster": (
        "flooding",
        "floods",
        "wildfire",
        "evacuation",
        "earthquake",
        "magnitude",
        "storm",
        "record rainfall",
        "heatwave",
        "red warning",
        "rescue teams",
        "reported missing",
        "blaze",
        "hectares",
        "boil drinking water",
        "railway line",
    ),
}


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


def _is_clean(word: str) -> bool:
    """Return whether a generated word stays clear of the shipped rules' terms."""
    low = word.lower()
    return low not in _TRIGGER_WORDS and not low.startswith(_TRIGGER_PREFIXES)


def _coin(rng: random.Random, syllables: int) -> str:
    """Return a made-up, pronounceable capitalised word."""
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(_CODAS)).capitalize()


@dataclass(frozen=True)
class Vocabulary:
    """The proper nouns that articles mention and rules look for."""

    people: tuple[tuple[str, str], ...]
    companies: tuple[str, ...]
    cities: tuple[str, ...]
    teams: tuple[str, ...]
    products: tuple[str, ...]
    phrases: dict[str, tuple[str, ...]]

    def proper_nouns(self) -> list[str]:
        """Return every generated proper noun, people as full names."""
        names = [f"{first} {last}" for first, last in self.people]
        return [*names, *self.companies, *self.cities, *self.teams, *self.products]


@functools.cache
def vocabulary() -> Vocabulary:
    """Return the shared vocabulary (always the same: it has its own fixed seed)."""
    rng = random.Random(VOCAB_SEED)
    words: set[str] = set()

    def fresh(syllables: int, ending: bool) -> str:
        while True:
            word = _coin(rng, syllables)
            if ending:
                word += rng.choice(_ENDINGS)
            if len(word) >= 4 and word not in words and _is_clean(word):
                words.add(word)
                return word

    people = tuple(
        (rng.choice(FIRST_NAMES), fresh(rng.choice((2, 2, 3)), True)) for _ in range(2600)
    )
    stems = [fresh(rng.choice((2, 3)), False) for _ in range(1500)]
    companies = tuple(f"{stem} {rng.choice(ORG_SUFFIXES)}" for stem in stems)
    towns = [rng.choice(PLACE_SHAPES).format(fresh(2, False)) for _ in range(1200)]
    cities = tuple(dict.fromkeys([*REAL_CITIES, *towns]))
    teams = tuple(dict.fromkeys(f"{fresh(2, False)} {rng.choice(TEAM_NAMES)}" for _ in range(180)))
    products = tuple(
        f"{fresh(2, False)} {rng.choice(('X', 'Pro ', 'S', 'Air ', 'One ', 'Max '))}"
        f"{rng.randint(2, 12)}".replace("  ", " ")
        for _ in range(250)
    )
    return Vocabulary(
        people=people,
        companies=companies,
        cities=cities,
        teams=teams,
        products=products,
        phrases=KEYWORDS,
    )


# --------------------------------------------------------------------------------------------
# Articles
# --------------------------------------------------------------------------------------------


class _Cast:
    """The people, places and organisations of one article, filled into template slots."""

    def __init__(self, rng: random.Random, topic: Topic, event: str | None) -> None:
        vocab = vocabulary()
        self.rng = rng
        self.topic = topic
        self.vocab = vocab
        person, person2 = rng.sample(vocab.people, 2)
        countries = rng.sample(COUNTRIES, 2)
        self.slots: dict[str, str] = {
            "P": f"{person[0]} {person[1]}",
            "p": person[1],
            "P2": f"{person2[0]} {person2[1]}",
            "p2": person2[1],
            "role": rng.choice(topic.roles),
            "role2": rng.choice(topic.roles),
            "C": rng.choice(vocab.companies),
            "C2": rng.choice(vocab.companies),
            "N": countries[0],
            "N2": countries[1],
            "T": rng.choice(vocab.cities),
            "K": rng.choice(vocab.teams),
            "K2": rng.choice(vocab.teams),
            "prod": rng.choice(vocab.products),
            "intl": rng.choice(INTL_ORGS),
            "L": rng.choice(LAUNCHERS),
            "S": rng.choice(SANCTIONED),
            "E": rng.choice(EMBARGOED),
            "day": rng.choice(WEEKDAYS),
        }
        if event == "missile" and self.slots["N2"] == self.slots["L"]:
            self.slots["N2"] = "Japan"
        fresh: dict[str, Callable[[], str]] = {
            "Px": lambda: "{} {}".format(*rng.choice(vocab.people)),
            "Cx": lambda: rng.choice(vocab.companies),
            "Nx": lambda: rng.choice(COUNTRIES),
            "Tx": lambda: rng.choice(vocab.cities),
            "num": lambda: str(rng.randint(2, 40)),
            "big": lambda: f"{rng.randint(1, 90) * 100 + rng.choice((0, 50)):,}",
            "pct": lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 9)}%",
            "money": lambda: f"${rng.randint(1, 40)}.{rng.randint(1, 9)} billion",
            "money_small": lambda: f"${rng.randint(20, 990)}",
            "month": lambda: rng.choice(MONTHS),
            "score": lambda: f"{rng.randint(1, 4)}-{rng.randint(0, 3)}",
            "mag": lambda: f"{rng.randint(4, 7)}.{rng.randint(0, 9)}",
        }
        self.fresh = fresh
        self.named: set[str] = set()

    def fill(self, template: str) -> str:
        """Return ``template`` with every slot filled, capitalised like a sentence."""

        def slot(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in ("P", "P2"):
                # Like a reporter: the full name first, then mostly the surname.
                if name in self.named and self.rng.random() < 0.7:
                    return self.slots[name.lower()]
                self.named.add(name)
            if name in self.slots:
                return self.slots[name]
            return self.fresh[name]()

        text = _SLOT.sub(slot, template)
        return text[0].upper() + text[1:]


def _article(rng: random.Random) -> tuple[str, str]:
    """Return one (title, text) pair."""
    roll = rng.random()
    event: str | None = None
    for name, share in EVENT_SHARE.items():
        if roll < share:
            event = name
            break
        roll -= share
    if event is None:
        topic = rng.choices(TOPICS, weights=[t.weight for t in TOPICS])[0]
        stories = topic.stories
    else:
        stories, topic_name = _EVENTS[event]
        topic = next(t for t in TOPICS if t.name == topic_name)
    cast = _Cast(rng, topic, event)
    title_template, lead_template = rng.choice(stories)
    title = cast.fill(title_template)
    sigma = 0.55
    target = rng.lognormvariate(math.log(ARTICLE_MEAN_BYTES) - sigma * sigma / 2, sigma)
    target = min(max(target, 300.0), 6000.0)
    sentences = [cast.fill(lead_template)]
    size = len(sentences[0])
    pool = list(topic.body)
    rng.shuffle(pool)
    while size < target:
        if pool and rng.random() < 0.8:
            template = pool.pop()
        elif rng.random() < 0.5:
            template = rng.choice(FILLER)
        else:
            template = rng.choice(topic.body)
        sentence = cast.fill(template)
        sentences.append(sentence)
        size += len(sentence) + 1
    paragraphs: list[str] = []
    i = 0
    while i < len(sentences):
        take = 1 if i == 0 else rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[i : i + take]))
        i += take
    return title, "\n\n".join(paragraphs)


def articles(n: int, seed: int = 1) -> list[tuple[str, str]]:
    """Return ``n`` (title, text) news articles, the same ones for the same seed."""
    rng = random.Random(f"articles:{seed}")
    return [_article(rng) for _ in range(n)]


def rss_feed(feed_no: int, items: int = 50, seed: int = 1) -> bytes:
    """Return a valid RSS 2.0 document of ``items`` articles for feed number ``feed_no``."""
    rng = random.Random(f"feed:{seed}:{feed_no}")
    host = f"news{feed_no}.example.com"
    newest = datetime(2025, 11, 20, 12, 0, tzinfo=UTC) - timedelta(minutes=feed_no % 997)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
        "<channel>",
        f"<title>Example News {feed_no}</title>",
        f"<link>https://{host}/</link>",
        f"<description>World, business and sports news from desk {feed_no}.</description>",
        "<language>en</language>",
        f"<lastBuildDate>{format_datetime(newest)}</lastBuildDate>",
        f'<atom:link href="https://{host}/rss.xml" rel="self" type="application/rss+xml"/>',
    ]
    for i, (title, text) in enumerate(_article(rng) for _ in range(items)):
        published = newest - timedelta(minutes=17 * i + rng.randint(0, 16))
        slug = "-".join(re.findall(r"[a-z0-9]+", title.lower())[:8])
        link = f"https://{host}/{published:%Y/%m/%d}/{slug}-{feed_no}-{i}"
        html = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
        out += [
            "<item>",
            f"<title>{escape(title)}</title>",
            f"<link>{escape(link)}</link>",
            f'<guid isPermaLink="false">urn:example:{feed_no}:{i}</guid>',
            f"<pubDate>{format_datetime(published)}</pubDate>",
            f"<description>{escape(html)}</description>",
            "</item>",
        ]
    out += ["</channel>", "</rss>", ""]
    return "\n".join(out).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 .'\-]*\*?")
_YAML_WORDS = frozenset(["yes", "no", "on", "off", "true", "false", "null", "y", "n"])
_VERBS = (
    "announc*", "agreed", "named", "unveil*", "warn*", "resign*", "appoint*", "visit*",
    "cut", "raised", "signed", "scored", "won", "accused", "arrested", "charged", "acquir*",
    "merger", "invest*", "hack*", "breach*", "lawsuit*", "recall*", "bankrupt*", "strike*",
)  # fmt: skip

Clause = str | list[str] | dict[str, object]


def _quote(term: str) -> str:
    """Return ``term`` as a YAML flow scalar, quoted only when it has to be."""
    if _PLAIN.fullmatch(term) and term.lower() not in _YAML_WORDS and not term.endswith(" "):
        return term
    return json.dumps(term, ensure_ascii=False)


def _words_regex(words: str) -> str:
    """Return a regular expression for ``words`` that allows any spacing between them."""
    return r"\s+".join(re.escape(w) for w in words.split())


def _emit(node: Clause, indent: int) -> list[str]:
    """Return the YAML lines of a clause below a ``match:`` key at ``indent`` spaces."""
    pad = " " * indent
    if isinstance(node, str):
        return [f"{pad}{_quote(node)}"]
    if isinstance(node, list):
        return [f"{pad}[{', '.join(_quote(t) for t in node)}]"]
    lines: list[str] = []
    for key, value in node.items():
        if isinstance(value, bool):
            lines.append(f"{pad}{key}: {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{pad}{key}: {value}")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            lines.append(f"{pad}{key}: [{', '.join(_quote(str(t)) for t in value)}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            for item in value:
                sub = _emit(item, indent + 4)
                lines.append(f"{pad}  - {sub[0].lstrip()}")
                lines += sub[1:]
        else:
            raise TypeError(f"cannot emit {value!r}")
    return lines


class _RuleMaker:
    """Draws terms for one generated rule from the shared vocabulary."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = vocabulary()

    def entity(self) -> str:
        """Return a rare proper noun, sometimes as a prefix term or a regular expression."""
        rng, vocab = self.rng, self.vocab
        kind = rng.choices(("person", "company", "city", "team", "product"), (5, 4, 2, 1, 1))[0]
        if kind == "person":
            first, last = rng.choice(vocab.people)
            if rng.random() < 0.04:
                return f"/(?:{first}\\s+)?{last}/"
            return f"{first} {last}"
        if kind == "company":
            company = rng.choice(vocab.companies)
            stem, suffix = company.split(" ", 1)
            roll = rng.random()
            if roll < 0.04:
                return f"/{stem}\\s+(?:{suffix}|Group|Holdings)/"
            if roll < 0.25:
                return f"{stem}*"
            return company
        if kind == "city":
            city = rng.choice(vocab.cities[len(REAL_CITIES) :])
            return city
        if kind == "team":
            return rng.choice(vocab.teams)
        product = rng.choice(vocab.products)
        if rng.random() < 0.05:
            name, model = product.rsplit(" ", 1)
            return f"/{_words_regex(name)}\\s+{model}s?/"
        return product

    def context(self, topic: str | None = None) -> str:
        """Return a topic phrase or verb, sometimes as a prefix term."""
        rng = self.rng
        if rng.random() < 0.25:
            return rng.choice(_VERBS)
        name = topic or rng.choice(TOPICS).name
        phrase = rng.choice(self.vocab.phrases[name])
        last = phrase.rsplit(" ", 1)[-1]
        if rng.random() < 0.2 and len(last) >= 6:
            return phrase[: len(phrase) - rng.randint(1, 3)] + "*"
        if rng.random() < 0.02:
            return "/ICBMs?/" if rng.random() < 0.5 else f"/{_words_regex(phrase)}s?/"
        return phrase

    def entities(self, k: int) -> list[str]:
        """Return ``k`` distinct entity terms."""
        return list(dict.fromkeys(self.entity() for _ in range(k)))

    def contexts(self, k: int, topic: str | None = None) -> list[str]:
        """Return ``k`` distinct context terms."""
        return list(dict.fromkeys(self.context(topic) for _ in range(k)))

    def clause(self) -> Clause:
        """Return a match clause: mostly all/any over entities and context."""
        rng = self.rng
        topic = rng.choice(TOPICS).name
        kind = rng.choices(
            ("entity", "entity_context", "near", "sentence", "place_topic", "country"),
            (22, 36, 12, 12, 10, 8),
        )[0]
        if kind == "entity":
            return self.entities(rng.randint(1, 3))
        if kind == "entity_context":
            node: dict[str, object] = {
                "all": [self.entities(rng.randint(1, 2)), self.contexts(rng.randint(1, 4), topic)]
            }
        elif kind == "near":
            node = {
                "all": [self.entities(1), self.contexts(rng.randint(1, 3), topic)],
                "near": rng.choice((5, 8, 10, 15, 20)),
            }
        elif kind == "sentence":
            node = {
                "all": [self.entities(rng.randint(1, 2)), self.contexts(rng.randint(2, 4))],
                "same_sentence": True,
            }
        elif kind == "place_topic":
            city = rng.choice(self.vocab.cities[len(REAL_CITIES) :])
            node = {"all": [city, self.contexts(rng.randint(1, 3), topic)]}
        else:
            country = rng.choice(COUNTRIES).removeprefix("the ")
            node = {
                "all": [country, self.entities(1), self.contexts(rng.randint(1, 2), topic)],
                "same_sentence": rng.random() < 0.5,
            }
        if rng.random() < 0.12:
            node["not"] = self.contexts(rng.randint(1, 2))
        return node


def make_rule(i: int, seed: int = 1) -> str:
    """Return generated rule number ``i`` as a YAML document."""
    rng = random.Random(f"rules:{seed}:{i}")
    maker = _RuleMaker(rng)
    clause = maker.clause()
    severity = rng.choices(("info", "warning", "critical"), (3, 6, 1))[0]
    lines = [
        f"# generated rule {i} (seed {seed})",
        f"id: gen-{i:05d}",
        f"name: Generated alert {i}",
        f"severity: {severity}",
        f"window: {rng.choice(('6h', '12h', '24h', '2d'))}",
    ]
    if rng.random() < 0.1:
        lines.append("fields: [title, text]")
    if isinstance(clause, dict):
        lines.append("match:")
        lines += _emit(clause, 2)
    else:
        lines.append(f"match: {_emit(clause, 0)[0]}")
    return "\n".join(lines) + "\n"


def make_rules(n: int, seed: int = 1) -> list[str]:
    """Return ``n`` generated rules as YAML documents; the first k are the same for any n >= k."""
    return [make_rule(i, seed) for i in range(n)]
