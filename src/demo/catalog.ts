// The demo shop's catalog: a Chinese convenience store and grocer with a clothing corner — packaged goods with
// EAN-13 barcodes, fruit, vegetables, meat and deli sold by weight with in-store scale labels (PLU codes), clothes
// in sizes and colours, books at the reduced VAT rate and a few services. Written as the catalog spreadsheet the hub
// imports (POST /api/v1/catalog/import), the way a merchant moves an existing catalog in.
import { stringify } from 'csv-stringify/sync'
import { gtinCheckDigit } from '../core/catalog/barcodes.ts'
import { rng } from './random.ts'

export type DemoTax = 'standard' | 'reduced' | 'services' | 'exempt'
export type DemoKind = 'packaged' | 'apparel' | 'weighed' | 'book' | 'service'

export interface DemoVariant {
  sku: string
  options?: Record<string, string>
  /** Minor units (fen) for `pricePer` base units. */
  price: number
  cost: number
  /** Barcode cells: an EAN-13, or `scale_plu:NNNNN` for goods weighed at the counter. */
  barcodes: string[]
}

export interface DemoProduct {
  key: string
  name: string
  nameEn: string
  category: string
  tax: DemoTax
  kind: DemoKind
  unit: 'piece' | 'g'
  /** 1, or 1000 for a price per kg of goods sold in grams. */
  pricePer: number
  /** How often the product is in a basket, relative to others. */
  popularity: number
  /** The scale item code (PLU) of a weighed product. */
  plu?: string
  variants: DemoVariant[]
}

export const CATEGORIES = {
  drinks: '饮料 Drinks',
  snacks: '零食 Snacks',
  dairy: '乳品 Dairy',
  grocery: '粮油调味 Pantry',
  frozen: '冷冻食品 Frozen',
  household: '日用百货 Household',
  stationery: '文具 Stationery',
  apparel: '服饰 Apparel',
  fruit: '生鲜 Fresh/水果 Fruit',
  vegetables: '生鲜 Fresh/蔬菜 Vegetables',
  meat: '生鲜 Fresh/肉禽 Meat',
  deli: '熟食 Deli',
  tea: '茶叶 Tea',
  care: '个人护理 Personal care',
  baby: '母婴 Baby',
  pets: '宠物 Pets',
  books: '图书 Books',
  services: '服务 Services',
} as const

/** Prices in yuan as written on the shelf; the list turns them into fen. */
type Item = [zh: string, en: string, yuan: number]

const DRINKS: Item[] = [
  ['农夫山泉饮用天然水 380ml', 'Nongfu Spring Natural Water 380ml', 1.5],
  ['农夫山泉饮用天然水 550ml', 'Nongfu Spring Natural Water 550ml', 2],
  ['农夫山泉饮用天然水 1.5L', 'Nongfu Spring Natural Water 1.5L', 4],
  ['农夫山泉饮用天然水 4L', 'Nongfu Spring Natural Water 4L', 8.5],
  ['怡宝纯净水 555ml', "C'estbon Purified Water 555ml", 2],
  ['怡宝纯净水 1.555L', "C'estbon Purified Water 1.555L", 4],
  ['百岁山矿泉水 570ml', 'Ganten Mineral Water 570ml', 3],
  ['可口可乐 330ml', 'Coca-Cola 330ml can', 3],
  ['可口可乐 500ml', 'Coca-Cola 500ml', 3.5],
  ['可口可乐 2L', 'Coca-Cola 2L', 8],
  ['零度可口可乐 330ml', 'Coca-Cola Zero 330ml can', 3],
  ['雪碧 330ml', 'Sprite 330ml can', 3],
  ['雪碧 500ml', 'Sprite 500ml', 3.5],
  ['芬达橙味 500ml', 'Fanta Orange 500ml', 3.5],
  ['百事可乐 330ml', 'Pepsi 330ml can', 3],
  ['康师傅冰红茶 500ml', 'Master Kong Iced Black Tea 500ml', 3],
  ['康师傅绿茶 500ml', 'Master Kong Green Tea 500ml', 3],
  ['统一冰红茶 500ml', 'Uni-President Iced Tea 500ml', 3],
  ['统一阿萨姆奶茶 500ml', 'Uni-President Assam Milk Tea 500ml', 4.5],
  ['三得利乌龙茶 500ml', 'Suntory Oolong Tea 500ml', 5],
  ['三得利无糖乌龙茶 500ml', 'Suntory Oolong Tea sugar-free 500ml', 5],
  ['维他柠檬茶 250ml', 'Vita Lemon Tea 250ml', 3.5],
  ['王老吉凉茶 310ml', 'Wong Lo Kat Herbal Tea 310ml', 4],
  ['加多宝凉茶 310ml', 'JDB Herbal Tea 310ml', 4],
  ['红牛维生素功能饮料 250ml', 'Red Bull 250ml', 6],
  ['东鹏特饮 250ml', 'Eastroc Super Drink 250ml', 5],
  ['脉动青柠味 600ml', 'Mizone Lime 600ml', 5],
  ['脉动桃子味 600ml', 'Mizone Peach 600ml', 5],
  ['佳得乐 600ml', 'Gatorade 600ml', 5.5],
  ['农夫果园 500ml', 'Nongfu Orchard Mixed Juice 500ml', 5.5],
  ['椰树椰汁 245ml', 'Coconut Palm Coconut Milk 245ml', 4.5],
  ['六个核桃 240ml', 'Six Walnuts Walnut Milk 240ml', 4],
  ['雀巢丝滑拿铁 268ml', 'Nescafé Smooth Latte 268ml', 6.5],
  ['青岛啤酒经典 500ml', 'Tsingtao Classic Beer 500ml', 6.5],
  ['青岛啤酒经典 330ml', 'Tsingtao Classic Beer 330ml can', 4.5],
  ['雪花啤酒勇闯天涯 500ml', 'Snow Beer Brave the World 500ml', 5.5],
  ['百威啤酒 500ml', 'Budweiser 500ml', 7.5],
  ['哈尔滨啤酒 500ml', 'Harbin Beer 500ml', 5.5],
]
/** Ranges sold in several flavours: [base zh, base en, size, price, flavours]. */
const FLAVOURED: [string, string, string, number, [string, string][]][] = [
  ['元气森林苏打气泡水', 'Genki Forest Sparkling Water', '480ml', 5.5, [['白桃', 'White Peach'], ['青瓜', 'Cucumber'], ['卡曼橘', 'Calamansi'], ['葡萄', 'Grape'], ['酸梅汁', 'Sour Plum']]],
  ['东方树叶', 'Oriental Leaf Tea', '500ml', 5, [['茉莉花茶', 'Jasmine'], ['乌龙茶', 'Oolong'], ['红茶', 'Black Tea'], ['青柑普洱', "Tangerine Pu'er"], ['玄米茶', 'Genmaicha']]],
  ['汇源100%果汁', 'Huiyuan 100% Juice', '1L', 12.9, [['橙', 'Orange'], ['苹果', 'Apple'], ['桃', 'Peach'], ['葡萄', 'Grape']]],
  ['星巴克星冰乐', 'Starbucks Frappuccino', '281ml', 12, [['摩卡', 'Mocha'], ['香草', 'Vanilla'], ['咖啡', 'Coffee']]],
  ['乐事薯片', "Lay's Potato Chips", '70g', 7.5, [['原味', 'Original'], ['黄瓜味', 'Cucumber'], ['番茄味', 'Tomato'], ['青柠味', 'Lime'], ['烧烤味', 'BBQ']]],
  ['品客薯片', 'Pringles', '110g', 12.9, [['原味', 'Original'], ['洋葱味', 'Sour Cream & Onion'], ['辣味', 'Hot & Spicy']]],
  ['奥利奥夹心饼干', 'Oreo Cookies', '116g', 8.9, [['原味', 'Original'], ['草莓味', 'Strawberry'], ['巧克力味', 'Chocolate']]],
  ['德芙巧克力', 'Dove Chocolate', '43g', 9.9, [['丝滑牛奶', 'Silky Milk'], ['香浓黑', 'Dark'], ['榛仁', 'Hazelnut']]],
  ['安慕希希腊酸奶', 'Ambrosial Greek Yogurt', '205g', 6.5, [['原味', 'Original'], ['蓝莓', 'Blueberry'], ['黄桃燕麦', 'Peach & Oat']]],
  ['蒙牛真果粒', 'Mengniu Real Fruit Bits', '250ml', 4.5, [['草莓', 'Strawberry'], ['黄桃', 'Yellow Peach'], ['芦荟', 'Aloe']]],
  ['思念水饺', 'Synear Dumplings', '1kg', 25.9, [['猪肉白菜', 'Pork & Cabbage'], ['三鲜', 'Three Delicacies'], ['韭菜鸡蛋', 'Chive & Egg']]],
  ['哈根达斯冰淇淋', 'Häagen-Dazs Ice Cream', '392g', 69, [['香草', 'Vanilla'], ['草莓', 'Strawberry'], ['夏威夷果', 'Macadamia']]],
  ['晨光中性笔 0.5mm', 'M&G Gel Pen 0.5mm', '', 2, [['黑色', 'Black'], ['蓝色', 'Blue'], ['红色', 'Red']]],
]
const SNACKS: Item[] = [
  ['旺旺仙贝 52g', 'Want Want Senbei 52g', 5.5],
  ['旺旺雪饼 84g', 'Want Want Snow Rice Crackers 84g', 6.5],
  ['士力架花生夹心巧克力 51g', 'Snickers 51g', 5.5],
  ['好丽友巧克力派 6枚', 'Orion Choco Pie 6 pack', 12.9],
  ['三只松鼠每日坚果 25g', 'Three Squirrels Daily Nuts 25g', 6.9],
  ['三只松鼠夏威夷果 160g', 'Three Squirrels Macadamia 160g', 29.9],
  ['三只松鼠碧根果 120g', 'Three Squirrels Pecans 120g', 25.9],
  ['良品铺子猪肉脯 100g', 'Bestore Pork Jerky 100g', 19.9],
  ['卫龙大面筋 106g', 'Weilong Spicy Gluten Strips 106g', 5],
  ['徐福记沙琪玛 469g', 'Hsu Fu Chi Sachima 469g', 19.9],
  ['上好佳鲜虾片 40g', 'Oishi Prawn Crackers 40g', 4.5],
  ['溜溜梅 160g', 'Liuliu Green Plums 160g', 12.9],
  ['百草味芒果干 120g', 'Be&Cheery Dried Mango 120g', 15.9],
  ['旺仔QQ糖 20g', 'Wangzai QQ Gummies 20g', 2.5],
  ['大白兔奶糖 227g', 'White Rabbit Creamy Candy 227g', 18.9],
  ['绿箭口香糖 5片', 'Doublemint Gum 5 sticks', 2],
  ['益达木糖醇口香糖 40粒', 'Extra Xylitol Gum 40 pieces', 12.9],
  ['康师傅3+2苏打饼干 125g', 'Master Kong 3+2 Soda Crackers 125g', 5.5],
  ['达利园法式软面包 200g', 'Daliyuan French Soft Bread 200g', 9.9],
  ['盼盼手撕面包 400g', 'Panpan Tear-apart Bread 400g', 12.9],
]
const DAIRY: Item[] = [
  ['蒙牛纯牛奶 250ml', 'Mengniu Pure Milk 250ml', 3.5],
  ['伊利纯牛奶 250ml', 'Yili Pure Milk 250ml', 3.5],
  ['特仑苏纯牛奶 250ml', 'Deluxe Pure Milk 250ml', 6],
  ['光明鲜牛奶 950ml', 'Bright Fresh Milk 950ml', 17.9],
  ['简爱原味酸奶 135g', 'Simplelove Plain Yogurt 135g', 7.5],
  ['养乐多 5瓶', 'Yakult 5 bottles', 11.5],
  ['伊利优酸乳 250ml', 'Yili Youngurt 250ml', 3],
  ['光明莫斯利安 200g', 'Bright Mosleyan Yogurt 200g', 5.5],
  ['妙可蓝多奶酪棒 100g', 'Milkground Cheese Sticks 100g', 19.9],
  ['安佳黄油 227g', 'Anchor Butter 227g', 29.9],
  ['鸡蛋 10枚', 'Fresh Eggs 10 pack', 15.9],
]
const PANTRY: Item[] = [
  ['海天生抽 500ml', 'Haday Light Soy Sauce 500ml', 9.9],
  ['海天老抽 500ml', 'Haday Dark Soy Sauce 500ml', 10.9],
  ['李锦记蚝油 510g', 'Lee Kum Kee Oyster Sauce 510g', 14.9],
  ['老干妈风味豆豉 280g', 'Lao Gan Ma Chili Crisp 280g', 11.5],
  ['恒顺香醋 500ml', 'Hengshun Black Vinegar 500ml', 8.9],
  ['太太乐鸡精 200g', 'Totole Chicken Bouillon 200g', 10.9],
  ['中盐精制盐 400g', 'China Salt Refined Salt 400g', 3],
  ['康师傅红烧牛肉面 5包', 'Master Kong Braised Beef Noodles 5 pack', 16.9],
  ['统一老坛酸菜牛肉面 5包', 'Uni-President Pickled Cabbage Beef Noodles 5 pack', 15.9],
  ['白象汤好喝方便面 5包', 'Baixiang Noodle Soup 5 pack', 14.9],
  ['乌江涪陵榨菜 80g', 'Wujiang Fuling Pickled Mustard 80g', 2.5],
]
const STAPLES: Item[] = [
  ['金龙鱼东北大米 5kg', 'Arawana Northeast Rice 5kg', 39.9],
  ['福临门五常大米 5kg', 'Fortune Wuchang Rice 5kg', 59.9],
  ['金龙鱼调和油 5L', 'Arawana Blended Oil 5L', 69.9],
  ['鲁花花生油 5L', 'Luhua Peanut Oil 5L', 149],
  ['香满园高筋面粉 2.5kg', 'Xiangmanyuan Bread Flour 2.5kg', 19.9],
]
const FROZEN: Item[] = [
  ['湾仔码头玉米猪肉水饺 720g', 'Wanchai Ferry Corn & Pork Dumplings 720g', 32.9],
  ['三全黑芝麻汤圆 500g', 'Sanquan Black Sesame Tangyuan 500g', 15.9],
  ['梦龙经典雪糕', 'Magnum Classic', 9.5],
  ['伊利巧乐兹', 'Yili Chocoliz Ice Cream Bar', 4],
  ['和路雪可爱多', "Wall's Cornetto", 6],
  ['正大鸡块 1kg', 'CP Chicken Nuggets 1kg', 39.9],
]
const HOUSEHOLD: Item[] = [
  ['维达抽纸 3层100抽 6包', 'Vinda Facial Tissue 6 packs', 19.9],
  ['清风卷纸 10卷', 'Breeze Toilet Rolls 10 rolls', 29.9],
  ['心相印湿巾 80片', 'Hearttex Wet Wipes 80 sheets', 12.9],
  ['立白洗衣液 2kg', 'Liby Laundry Liquid 2kg', 29.9],
  ['蓝月亮洗衣液 3kg', 'Bluemoon Laundry Liquid 3kg', 49.9],
  ['汰渍洗衣粉 1.6kg', 'Tide Washing Powder 1.6kg', 21.9],
  ['白猫洗洁精 1.5kg', 'White Cat Dish Soap 1.5kg', 15.9],
  ['威露士洗手液 525ml', 'Walch Hand Wash 525ml', 24.9],
  ['舒肤佳香皂 3块', 'Safeguard Soap 3 bars', 15.9],
  ['高露洁牙膏 140g', 'Colgate Toothpaste 140g', 12.9],
  ['云南白药牙膏 120g', 'Yunnan Baiyao Toothpaste 120g', 29.9],
  ['佳洁士牙膏 180g', 'Crest Toothpaste 180g', 14.9],
  ['飘柔洗发水 400ml', 'Rejoice Shampoo 400ml', 32.9],
  ['海飞丝洗发水 400ml', 'Head & Shoulders Shampoo 400ml', 45.9],
  ['潘婷护发素 400ml', 'Pantene Conditioner 400ml', 39.9],
  ['六神花露水 195ml', 'Liushen Florida Water 195ml', 15.9],
  ['南孚5号电池 4粒', 'Nanfu AA Batteries 4 pack', 12.9],
  ['南孚7号电池 4粒', 'Nanfu AAA Batteries 4 pack', 12.9],
  ['妙洁保鲜袋 100只', 'Miaojie Food Bags 100 pack', 9.9],
  ['一次性纸杯 50只', 'Paper Cups 50 pack', 8.9],
  ['环保购物袋', 'Reusable Shopping Bag', 2],
]
const STATIONERY: Item[] = [
  ['得力笔记本 A5', 'Deli Notebook A5', 8.9],
  ['得力笔记本 B5', 'Deli Notebook B5', 9.9],
  ['3M便利贴', '3M Post-it Notes', 5.9],
  ['得力订书机', 'Deli Stapler', 15.9],
  ['晨光修正带', 'M&G Correction Tape', 6.5],
  ['马克笔 24色', 'Marker Pens 24 colours', 39.9],
]
/** Loose-leaf and pressed tea, an agricultural product at the reduced rate. */
const TEA: Item[] = [
  ['西湖龙井 明前特级 100g', 'West Lake Longjing, pre-Qingming 100g', 298],
  ['安溪铁观音 250g', 'Anxi Tieguanyin 250g', 128],
  ['武夷山大红袍 125g', 'Wuyi Da Hong Pao 125g', 168],
  ['云南普洱熟茶饼 357g', 'Yunnan Ripe Pu\'er cake 357g', 139],
  ['洞庭碧螺春 100g', 'Dongting Biluochun 100g', 158],
  ['福鼎白茶 白牡丹 100g', 'Fuding White Peony tea 100g', 118],
  ['茉莉花茶 250g', 'Jasmine tea 250g', 58],
  ['杭白菊 50g', 'Hangzhou chrysanthemum 50g', 29.9],
  ['祁门红茶 100g', 'Keemun black tea 100g', 88],
  ['正山小种 100g', 'Lapsang Souchong 100g', 96],
  ['立顿黄牌红茶包 100包', 'Lipton Yellow Label tea bags 100', 39.9],
  ['竹叶青 峨眉高山绿茶 80g', 'Zhuyeqing Emei green tea 80g', 138],
]
const CARE: Item[] = [
  ['大宝SOD蜜 200ml', 'Dabao SOD lotion 200ml', 19.9],
  ['百雀羚护手霜 80g', 'Pechoin hand cream 80g', 15.9],
  ['妮维雅男士洁面乳 100g', 'Nivea Men face wash 100g', 39.9],
  ['曼秀雷敦润唇膏', 'Mentholatum lip balm', 22.9],
  ['苏菲卫生巾 日用 10片', 'Sofy pads day 10 pack', 12.9],
  ['吉列剃须刀片 4片', 'Gillette blades 4 pack', 89],
  ['强生婴儿润肤露 200ml', "Johnson's baby lotion 200ml", 32.9],
  ['3M口罩 10只', '3M face masks 10 pack', 29.9],
  ['云南白药创可贴 20片', 'Yunnan Baiyao plasters 20', 9.9],
  ['洁柔湿厕纸 40片', 'C&S moist toilet tissue 40', 11.9],
]
const BABY: Item[] = [
  ['帮宝适纸尿裤 M码 64片', 'Pampers diapers M 64', 139],
  ['帮宝适纸尿裤 L码 54片', 'Pampers diapers L 54', 139],
  ['好奇婴儿湿巾 80抽', 'Huggies baby wipes 80', 19.9],
  ['飞鹤星飞帆奶粉 3段 700g', 'Feihe Astrobaby formula stage 3 700g', 268],
  ['亨氏婴儿米粉 400g', 'Heinz baby rice cereal 400g', 45],
  ['贝亲奶瓶 240ml', 'Pigeon baby bottle 240ml', 119],
]
const PETS: Item[] = [
  ['皇家猫粮 成猫 2kg', 'Royal Canin adult cat food 2kg', 189],
  ['伟嘉猫粮 海洋鱼 1.3kg', 'Whiskas ocean fish cat food 1.3kg', 59.9],
  ['宝路狗粮 牛肉味 1.8kg', 'Pedigree beef dog food 1.8kg', 69.9],
  ['猫砂 豆腐砂 6L', 'Tofu cat litter 6L', 35.9],
  ['冻干鸡肉粒 100g', 'Freeze-dried chicken treats 100g', 39.9],
]
const BOOKS: Item[] = [
  ['三体（全三册）', 'The Three-Body Problem trilogy', 93],
  ['活着', 'To Live', 45],
  ['围城', 'Fortress Besieged', 39],
  ['红楼梦', 'Dream of the Red Chamber', 59.7],
  ['小王子', 'The Little Prince', 32],
  ['本帮菜谱', 'Shanghai Home Cooking', 68],
]
const SERVICES: Item[] = [
  ['礼品包装', 'Gift wrapping', 10],
  ['同城配送', 'Same-day delivery', 15],
  ['衣物改裁', 'Clothing alterations', 30],
]
/** Sold by weight, price per kg: [zh, en, yuan per kg]. */
const FRUIT: Item[] = [
  ['红富士苹果', 'Fuji Apples', 12.8],
  ['香蕉', 'Bananas', 6.98],
  ['赣南脐橙', 'Gannan Navel Oranges', 9.98],
  ['库尔勒香梨', 'Korla Fragrant Pears', 13.8],
  ['阳光玫瑰葡萄', 'Shine Muscat Grapes', 39.8],
  ['麒麟西瓜', 'Kirin Watermelon', 4.98],
  ['海南芒果', 'Hainan Mangoes', 15.8],
  ['徐香猕猴桃', 'Xuxiang Kiwifruit', 19.8],
  ['丹东草莓', 'Dandong Strawberries', 59.8],
  ['砂糖橘', 'Shatang Mandarins', 8.98],
  ['红心火龙果', 'Red Dragon Fruit', 12.8],
  ['哈密瓜', 'Hami Melon', 7.98],
]
const VEGETABLES: Item[] = [
  ['西红柿', 'Tomatoes', 7.98],
  ['黄瓜', 'Cucumbers', 5.98],
  ['土豆', 'Potatoes', 3.98],
  ['胡萝卜', 'Carrots', 3.98],
  ['大白菜', 'Napa Cabbage', 2.98],
  ['西兰花', 'Broccoli', 11.8],
  ['青椒', 'Green Peppers', 6.98],
  ['长茄子', 'Eggplant', 6.98],
  ['洋葱', 'Onions', 3.98],
  ['生姜', 'Ginger', 15.8],
  ['大蒜', 'Garlic', 13.8],
  ['菠菜', 'Spinach', 9.8],
  ['上海青', 'Shanghai Bok Choy', 7.8],
  ['香菇', 'Shiitake Mushrooms', 19.8],
]
const MEAT: Item[] = [
  ['猪五花肉', 'Pork Belly', 39.8],
  ['猪里脊', 'Pork Tenderloin', 42.8],
  ['牛腱子', 'Beef Shank', 89.8],
  ['鸡胸肉', 'Chicken Breast', 23.8],
  ['鸡翅中', 'Chicken Mid-wings', 49.8],
]
const DELI_WEIGHED: Item[] = [
  ['酱卤牛肉', 'Braised Beef', 128],
  ['白切鸡', 'Poached Chicken', 58],
  ['蜜汁叉烧', 'Honey Char Siu', 88],
  ['南京盐水鸭', 'Nanjing Salted Duck', 68],
  ['凉拌木耳', 'Wood Ear Salad', 36],
  ['北京烤鸭', 'Peking Roast Duck', 78],
]
const DELI_PIECES: Item[] = [
  ['鲜肉包', 'Pork Bun', 2.5],
  ['香菇青菜包', 'Mushroom & Greens Bun', 2],
  ['小笼包 8只', 'Xiaolongbao 8 pieces', 15],
  ['糯米饭团', 'Sticky Rice Roll', 6.5],
  ['茶叶蛋', 'Tea Egg', 2],
  ['关东煮 一份', 'Oden cup', 12],
]
/** Clothes: [zh, en, yuan, sizes, colours]. */
const APPAREL: [string, string, number, string[], [string, string][]][] = [
  ['纯棉圆领T恤', 'Cotton Crew-neck T-shirt', 59, ['S', 'M', 'L', 'XL'], [['白色', 'White'], ['黑色', 'Black'], ['藏青', 'Navy']]],
  ['连帽卫衣', 'Hooded Sweatshirt', 129, ['S', 'M', 'L', 'XL'], [['灰色', 'Grey'], ['黑色', 'Black']]],
  ['直筒牛仔裤', 'Straight-leg Jeans', 199, ['28', '30', '32', '34'], [['深蓝', 'Dark Blue'], ['浅蓝', 'Light Blue']]],
  ['帆布鞋', 'Canvas Shoes', 159, ['36', '37', '38', '39', '40', '41', '42', '43'], [['白色', 'White'], ['黑色', 'Black']]],
  ['运动袜 3双装', 'Sports Socks 3 pairs', 29, ['M', 'L'], [['白色', 'White'], ['黑色', 'Black']]],
  ['轻薄羽绒服', 'Light Down Jacket', 499, ['S', 'M', 'L', 'XL'], [['黑色', 'Black'], ['红色', 'Red']]],
  ['棒球帽', 'Baseball Cap', 49, [], [['黑色', 'Black'], ['米色', 'Beige'], ['藏青', 'Navy']]],
  ['羊毛围巾', 'Wool Scarf', 89, [], [['灰色', 'Grey'], ['驼色', 'Camel'], ['红色', 'Red']]],
  ['帆布托特包', 'Canvas Tote Bag', 39, [], [['米色', 'Beige'], ['黑色', 'Black']]],
]

const fen = (yuan: number) => Math.round(yuan * 100)
/** An EAN-13 with its check digit: 12 digits of body. */
export const ean13 = (body: string) => `${body}${gtinCheckDigit(body)}`

/** The whole catalog, the same on every run. */
export function demoCatalog(): DemoProduct[] {
  const r = rng(20_261_101)
  const out: DemoProduct[] = []
  let barcode = 0
  const counters: Record<string, number> = {}
  const sku = (prefix: string) => `${prefix}-${String((counters[prefix] = (counters[prefix] ?? 0) + 1)).padStart(4, '0')}`
  const cost = (price: number, lo = 0.55, hi = 0.75) => Math.round(price * (lo + r.next() * (hi - lo)))

  const packaged = (items: Item[], category: string, prefix: string, popularity: number, tax: DemoTax = 'standard', kind: DemoKind = 'packaged') => {
    for (const [zh, en, yuan] of items) {
      const s = sku(prefix)
      const price = fen(yuan)
      // Chinese goods carry 69x GS1 prefixes; books an ISBN-13 (978…).
      const code = kind === 'book' ? ean13(`9787${String(5000_0000 + ++barcode).padStart(8, '0')}`) : ean13(`693${String(1000_0000 + ++barcode).padStart(9, '0')}`)
      out.push({
        key: s,
        name: zh,
        nameEn: en,
        category,
        tax,
        kind,
        unit: 'piece',
        pricePer: 1,
        popularity: popularity * (0.5 + r.next()),
        variants: [{ sku: s, price, cost: kind === 'service' ? 0 : cost(price), barcodes: kind === 'service' ? [] : [code] }],
      })
    }
  }
  packaged(DRINKS, CATEGORIES.drinks, 'DRK', 10)
  for (const [zh, en, size, yuan, flavours] of FLAVOURED) {
    const category = en.includes('Chips') || en.includes('Pringles') || en.includes('Oreo') || en.includes('Dove') ? CATEGORIES.snacks
      : en.includes('Yogurt') || en.includes('Fruit Bits') ? CATEGORIES.dairy
        : en.includes('Dumplings') || en.includes('Ice Cream') ? CATEGORIES.frozen
          : en.includes('Pen') ? CATEGORIES.stationery
            : CATEGORIES.drinks
    const prefix = ({ [CATEGORIES.snacks]: 'SNK', [CATEGORIES.dairy]: 'DAI', [CATEGORIES.frozen]: 'FRZ', [CATEGORIES.stationery]: 'STA' } as Record<string, string>)[category] ?? 'DRK'
    const pop = category === CATEGORIES.stationery ? 1 : category === CATEGORIES.frozen ? 2 : 6
    packaged(
      flavours.map(([fz, fe]) => [`${zh}${fz}${size ? ` ${size}` : ''}`, `${en} ${fe}${size ? ` ${size}` : ''}`, yuan] as Item),
      category,
      prefix,
      pop,
    )
  }
  packaged(SNACKS, CATEGORIES.snacks, 'SNK', 6)
  packaged(DAIRY, CATEGORIES.dairy, 'DAI', 7)
  packaged(PANTRY, CATEGORIES.grocery, 'PAN', 3)
  // Rice, flour and edible oil are taxed at the reduced rate in China.
  packaged(STAPLES, CATEGORIES.grocery, 'PAN', 2, 'reduced')
  packaged(FROZEN, CATEGORIES.frozen, 'FRZ', 2)
  packaged(HOUSEHOLD, CATEGORIES.household, 'HOU', 2)
  packaged(STATIONERY, CATEGORIES.stationery, 'STA', 1)
  packaged(TEA, CATEGORIES.tea, 'TEA', 1.2, 'reduced')
  packaged(CARE, CATEGORIES.care, 'CAR', 1.5)
  packaged(BABY, CATEGORIES.baby, 'BAB', 0.8)
  packaged(PETS, CATEGORIES.pets, 'PET', 0.8)
  packaged(BOOKS, CATEGORIES.books, 'BOK', 0.5, 'reduced', 'book')
  packaged(SERVICES, CATEGORIES.services, 'SRV', 0.3, 'services', 'service')
  packaged(DELI_PIECES, CATEGORIES.deli, 'DEL', 5)

  // Weighed at the counter: priced per kg, sold in grams, labelled by the scale with 2x-prefixed EAN-13s.
  let plu = 10_000
  const weighed = (items: Item[], category: string, prefix: string, popularity: number, tax: DemoTax) => {
    for (const [zh, en, perKg] of items) {
      const s = sku(prefix)
      const code = String(++plu)
      const price = fen(perKg)
      out.push({
        key: s,
        name: zh,
        nameEn: en,
        category,
        tax,
        kind: 'weighed',
        unit: 'g',
        pricePer: 1000,
        popularity: popularity * (0.5 + r.next()),
        plu: code,
        variants: [{ sku: s, price, cost: cost(price, 0.6, 0.8), barcodes: [`scale_plu:${code}`] }],
      })
    }
  }
  // Fresh produce and meat are agricultural products (9 % VAT); cooked deli food is not.
  weighed(FRUIT, CATEGORIES.fruit, 'FRU', 4, 'reduced')
  weighed(VEGETABLES, CATEGORIES.vegetables, 'VEG', 3, 'reduced')
  weighed(MEAT, CATEGORIES.meat, 'MEA', 2, 'reduced')
  weighed(DELI_WEIGHED, CATEGORIES.deli, 'DEL', 3, 'standard')

  for (const [zh, en, yuan, sizes, colours] of APPAREL) {
    const key = sku('APP')
    const price = fen(yuan)
    const variants: DemoVariant[] = []
    let n = 0
    for (const [cz, ce] of colours) {
      for (const size of sizes.length ? sizes : ['']) {
        const options: Record<string, string> = size ? { Size: size, Colour: `${cz} ${ce}` } : { Colour: `${cz} ${ce}` }
        variants.push({ sku: `${key}-${String(++n).padStart(2, '0')}`, options, price, cost: cost(price, 0.4, 0.5), barcodes: [ean13(`693${String(1000_0000 + ++barcode).padStart(9, '0')}`)] })
      }
    }
    out.push({ key, name: zh, nameEn: en, category: CATEGORIES.apparel, tax: 'standard', kind: 'apparel', unit: 'piece', pricePer: 1, popularity: 0.6, variants })
  }
  return out
}

const yuanText = (fenValue: number) => `${Math.floor(fenValue / 100)}.${String(fenValue % 100).padStart(2, '0')}`

/** The catalog as the spreadsheet POST /api/v1/catalog/import reads: one row per variant. */
export function catalogCsv(products: DemoProduct[]): string {
  const rows = products.flatMap((p) =>
    p.variants.map((v) => ({
      product_key: p.key,
      product_name: p.name,
      product_name_en: p.nameEn,
      category: p.category,
      tax_category: p.tax,
      unit: p.unit,
      sku: v.sku,
      options: v.options ? Object.entries(v.options).map(([k, x]) => `${k}=${x}`).join(';') : '',
      price: yuanText(v.price),
      price_per: String(p.pricePer),
      cost: yuanText(v.cost),
      barcodes: v.barcodes.join(';'),
      on_shelf: 'true',
    })),
  )
  return stringify(rows, { header: true, columns: ['product_key', 'product_name', 'product_name_en', 'category', 'tax_category', 'unit', 'sku', 'options', 'price', 'price_per', 'cost', 'barcodes', 'on_shelf'] })
}

/** An in-store scale label for `grams` of a weighed product: 2x prefix, PLU, weight, check digit. */
export const scaleLabel = (plu: string, grams: number) => ean13(`20${plu}${String(grams).padStart(5, '0')}`)
